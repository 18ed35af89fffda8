/* Does a fork child fault in the library's symbol hash table? A preloaded
 * library comes first in every symbol lookup, so the child's first lazy
 * binding (its first call of _exit, execve, ...) reads the library's
 * DT_GNU_HASH table. Fork copies the page table entries of a mapping into
 * the child only when the mapping has private (written) pages; in any other,
 * each page the child reads is a fault of its own, 10 to 40 us on a
 * machine with paravirtualised page tables.
 *
 * The process (holding a non-blocking TCP pair, as a server would) finds
 * the part of the library's table a lookup reads (header, Bloom filter,
 * buckets and chains), forks, and the child looks up each of its pages in
 * its own /proc/self/pagemap (the parent's file would show the parent's
 * table) before it calls anything else: open and pread, bound in the
 * parent, which the library does not hook. Prints "pages N present M", or
 * "no library" when libsockleak is not loaded. */
#include "prog.h"
#include <elf.h>
#include <fcntl.h>
#include <link.h>

#define PM_PRESENT (1ull << 63)

static uintptr_t table;

static int find_table(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    (void)arg;
    if (!strstr(info->dlpi_name, "libsockleak"))
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        if (info->dlpi_phdr[i].p_type != PT_DYNAMIC)
            continue;
        const ElfW(Dyn) *d = (const void *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
        for (; d->d_tag != DT_NULL; d++)
            if (d->d_tag == DT_GNU_HASH) /* relocated by ld.so where .dynamic is writable */
                table = d->d_un.d_ptr < info->dlpi_addr ? info->dlpi_addr + d->d_un.d_ptr
                                                        : d->d_un.d_ptr;
    }
    return 1;
}

/* The bytes of the table a lookup may read: the header, the Bloom filter,
 * the buckets, and the chains up to the last one's end. */
static size_t table_length(void)
{
    const uint32_t *h = (const uint32_t *)table;
    uint32_t nbuckets = h[0], symoffset = h[1], bloom_size = h[2];
    const uint32_t *buckets = (const uint32_t *)(table + 16 + bloom_size * sizeof(ElfW(Addr)));
    const uint32_t *chains = buckets + nbuckets;
    uint32_t last = 0;
    for (uint32_t b = 0; b < nbuckets; b++) {
        if (buckets[b] < symoffset)
            continue;
        uint32_t i = buckets[b] - symoffset;
        while (!(chains[i] & 1))
            i++;
        last = i > last ? i : last;
    }
    return (size_t)((const char *)(chains + last + 1) - (const char *)table);
}

int main(void)
{
    int port, c, s;
    int lfd = nonblocking_listener(&port);
    nonblocking_tcp_pair(lfd, port, &c, &s);
    dl_iterate_phdr(find_table, NULL);
    if (!table) {
        printf("no library\n");
        return 0;
    }
    uintptr_t lo = table / 4096 * 4096, hi = table + table_length();
    int pm = open("/proc/self/pagemap", O_RDONLY);
    uint64_t e;
    if (pm < 0 || pread(pm, &e, sizeof e, 0) < 0) /* open and pread bound here */
        die("pagemap");
    close(pm);
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        int pages = 0, present = 0;
        if ((pm = open("/proc/self/pagemap", O_RDONLY)) < 0)
            _exit(2);
        for (uintptr_t a = lo; a < hi; a += 4096, pages++)
            if (pread(pm, &e, sizeof e, (off_t)(a / 4096 * sizeof e)) == sizeof e &&
                (e & PM_PRESENT))
                present++;
        printf("pages %d present %d\n", pages, present);
        fflush(stdout);
        _exit(0);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
        die("child");
    return 0;
}
