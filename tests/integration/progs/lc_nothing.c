/* A program that calls nothing the library wraps: it returns at once. Under
 * the library its start-up looks up no libc function of the library's
 * hooks but __register_atfork (the one its constructor registers through):
 * each other is bound at its first call. */
int main(void)
{
    return 0;
}
