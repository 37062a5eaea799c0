/* A stand-in for Windows' bcryptprimitives.dll, for running the Windows build
 * under Debian's Wine 8 only (scripts/cross-check.sh). Rust's std (1.78 and
 * later) and the getrandom crate take their random bytes from ProcessPrng,
 * which Wine 8's bcryptprimitives lacks; this forwards it to RtlGenRandom
 * (advapi32's SystemFunction036), the generator Wine does provide. Never
 * shipped: real Windows has its own. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x7fffffff ? 0x7fffffff : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
