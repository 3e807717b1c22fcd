/* A 32-bit (compat) program: its syscall numbers are the i386 table's, not x86_64's. */
#include <unistd.h>
#include <sys/stat.h>
int main(void) { mkdir("/made-by-32-bit", 0755); write(1, "hello from 32 bits\n", 19); return 0; }
