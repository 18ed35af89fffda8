#include "elfinfo.h"
#include "util.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Sanitizer runtimes that abort, or misbehave, unless they are the first
 * library of the process: the name prefix in DT_NEEDED and what to call it. */
static const struct {
    const char *prefix;
    const char *name;
} sl_elfinfo_sanitizers[] = {
    {"libasan.so", "AddressSanitizer"},
    {"libtsan.so", "ThreadSanitizer"},
    {"libhwasan.so", "HWAddressSanitizer"},
};

/* execvp's search: name itself when it has a '/', else the first
 * executable in PATH. false when there is none. */
static bool sl_elfinfo_which(const char *name, char *out, size_t size)
{
    const char *path = getenv("PATH");

    if (strchr(name, '/')) {
        snprintf(out, size, "%s", name);
        return true;
    }
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path; p; p = strchr(p, ':') ? strchr(p, ':') + 1 : NULL) {
        size_t len = strchr(p, ':') ? (size_t)(strchr(p, ':') - p) : strlen(p);
        int n = snprintf(out, size, "%.*s%s%s", (int)len, p, len ? "/" : "", name);
        if (n > 0 && (size_t)n < size && access(out, X_OK) == 0)
            return true;
    }
    return false;
}

/* For a "#!" script, replaces path with the interpreter it names (the
 * program env runs, for "#!/usr/bin/env NAME"). Returns false when path is
 * no script. */
static bool sl_elfinfo_script(char *path, size_t size)
{
    char line[256], *interp, *arg, *save = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, line, sizeof(line) - 1);

    if (fd >= 0)
        close(fd);
    if (n < 2 || line[0] != '#' || line[1] != '!')
        return false;
    line[n] = '\0';
    line[strcspn(line, "\n")] = '\0';
    interp = strtok_r(line + 2, " \t", &save);
    arg = interp ? strtok_r(NULL, " \t", &save) : NULL;
    if (!interp)
        return false;
    if (strcmp(sl_util_basename(interp), "env") == 0 && arg && arg[0] != '-')
        return sl_elfinfo_which(arg, path, size);
    snprintf(path, size, "%s", interp);
    return true;
}

/* A symbol table naming runtime.main: a Go binary whose sections were
 * renamed or stripped of the build-info marks. */
static bool sl_elfinfo_go_symbol(Elf *elf, Elf_Scn *scn, const GElf_Shdr *sh)
{
    Elf_Data *data = elf_getdata(scn, NULL);
    size_t n = sh->sh_entsize ? sh->sh_size / sh->sh_entsize : 0;
    GElf_Sym sym;

    for (size_t i = 0; data && i < n; i++) {
        const char *name;
        if (gelf_getsym(data, (int)i, &sym) && (name = elf_strptr(elf, sh->sh_link, sym.st_name)) &&
            strcmp(name, "runtime.main") == 0)
            return true;
    }
    return false;
}

static void sl_elfinfo_needed(Elf *elf, Elf_Scn *scn, const GElf_Shdr *sh, struct sl_elfinfo *info)
{
    Elf_Data *data = elf_getdata(scn, NULL);
    size_t n = sh->sh_entsize ? sh->sh_size / sh->sh_entsize : 0;
    GElf_Dyn dyn;

    for (size_t i = 0; data && i < n && !info->sanitizer[0]; i++) {
        const char *name;
        if (!gelf_getdyn(data, (int)i, &dyn) || dyn.d_tag != DT_NEEDED ||
            !(name = elf_strptr(elf, sh->sh_link, dyn.d_un.d_val)))
            continue;
        for (size_t k = 0; k < sizeof(sl_elfinfo_sanitizers) / sizeof(sl_elfinfo_sanitizers[0]);
             k++)
            if (strncmp(name, sl_elfinfo_sanitizers[k].prefix,
                        strlen(sl_elfinfo_sanitizers[k].prefix)) == 0) {
                snprintf(info->sanitizer, sizeof(info->sanitizer), "%s", name);
                info->sanitizer_name = sl_elfinfo_sanitizers[k].name;
            }
    }
}

/* The sections: Go's marks, the dynamic section's DT_NEEDED. */
static void sl_elfinfo_sections(Elf *elf, struct sl_elfinfo *info)
{
    size_t shstrndx;
    Elf_Scn *scn = NULL, *symtab = NULL;
    GElf_Shdr sh, symsh = {0};

    if (elf_getshdrstrndx(elf, &shstrndx) != 0)
        return;
    while ((scn = elf_nextscn(elf, scn))) {
        const char *name;
        if (!gelf_getshdr(scn, &sh))
            continue;
        name = elf_strptr(elf, shstrndx, sh.sh_name);
        if (name && (strcmp(name, ".go.buildinfo") == 0 || strcmp(name, ".note.go.buildid") == 0))
            info->is_go = true;
        if (sh.sh_type == SHT_DYNAMIC)
            sl_elfinfo_needed(elf, scn, &sh, info);
        if (sh.sh_type == SHT_SYMTAB) {
            symtab = scn;
            symsh = sh;
        }
    }
    if (!info->is_go && symtab)
        info->is_go = sl_elfinfo_go_symbol(elf, symtab, &symsh);
}

static void sl_elfinfo_elf(int fd, struct sl_elfinfo *info)
{
    Elf *elf;
    size_t nph, rawsize;
    const char *raw;
    GElf_Phdr ph;

    elf_version(EV_CURRENT);
    elf = elf_begin(fd, ELF_C_READ, NULL);
    if (!elf || elf_kind(elf) != ELF_K_ELF || elf_getphdrnum(elf, &nph) != 0) {
        elf_end(elf);
        return;
    }
    info->is_elf = true;
    raw = elf_rawfile(elf, &rawsize);
    for (size_t i = 0; i < nph; i++)
        if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_INTERP && raw &&
            ph.p_offset < rawsize && ph.p_filesz <= rawsize - ph.p_offset)
            snprintf(info->interp, sizeof(info->interp), "%.*s", (int)ph.p_filesz,
                     raw + ph.p_offset);
    info->is_static = !info->interp[0];
    info->is_musl = strncmp(sl_util_basename(info->interp), "ld-musl-", 8) == 0;
    sl_elfinfo_sections(elf, info);
    elf_end(elf);
}

void sl_elfinfo_inspect(const char *prog, struct sl_elfinfo *info)
{
    struct stat st;
    int fd;

    memset(info, 0, sizeof(*info));
    if (!sl_elfinfo_which(prog, info->path, sizeof(info->path)))
        return;
    /* The kernel ignores set-ID bits on scripts; only the ELF's count. */
    if (!sl_elfinfo_script(info->path, sizeof(info->path)) && stat(info->path, &st) == 0)
        info->is_setid = ((st.st_mode & S_ISUID) && st.st_uid != geteuid()) ||
                         ((st.st_mode & S_ISGID) && st.st_gid != getegid());
    fd = open(info->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    sl_elfinfo_elf(fd, info);
    close(fd);
}

const char *sl_elfinfo_unwatchable(const struct sl_elfinfo *info)
{
    if (!info->is_elf)
        return NULL;
    if (info->is_go)
        return "it is a Go binary, which makes its system calls without libc";
    if (info->is_static)
        return "it is statically linked (no program interpreter), so LD_PRELOAD cannot reach it";
    if (info->is_musl)
        return "it is linked against musl, which cannot load the glibc library (it ran without "
               "it)";
    if (info->is_setid)
        return "it is set-user-ID or set-group-ID, and the loader ignores LD_PRELOAD for it";
    return NULL;
}

/* `ldconfig -p` lines: "\tlibasan.so.8 (libc6,x86-64) => /usr/lib/.../libasan.so.8". */
static char *sl_elfinfo_ldconfig(const char *soname)
{
    FILE *p = popen("/sbin/ldconfig -p 2>/dev/null", "re");
    char line[PATH_MAX + 128], *found = NULL;
    size_t len = strlen(soname);

    if (!p)
        return NULL;
    while (!found && fgets(line, sizeof(line), p)) {
        char *s = line + strspn(line, " \t"), *arrow = strstr(line, " => ");
        if (strncmp(s, soname, len) == 0 && s[len] == ' ' && arrow) {
            arrow[4 + strcspn(arrow + 4, "\n")] = '\0';
            found = sl_util_xstrdup(arrow + 4);
        }
    }
    pclose(p);
    return found;
}

char *sl_elfinfo_find_lib(const char *soname)
{
    static const char *const dirs[] = {"/usr/lib/" SL_MULTIARCH, "/lib/" SL_MULTIARCH,
                                       "/usr/lib64", "/lib64", "/usr/lib", "/lib"};
    Dl_info dl;
    char *cand;

    /* Our own libc's directory first: the multiarch directory of this host. */
    if (dladdr((void *)printf, &dl) && dl.dli_fname && strrchr(dl.dli_fname, '/')) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%.*s", (int)(strrchr(dl.dli_fname, '/') - dl.dli_fname),
                 dl.dli_fname);
        cand = sl_util_xjoin(dir, "/", soname);
        if (access(cand, R_OK) == 0)
            return cand;
        free(cand);
    }
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        cand = sl_util_xjoin(dirs[i], "/", soname);
        if (access(cand, R_OK) == 0)
            return cand;
        free(cand);
    }
    return sl_elfinfo_ldconfig(soname);
}
