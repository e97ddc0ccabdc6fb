// LeakSanitizer suppressions compiled into every test binary (the sanitizer runtime calls this
// weak hook). Only third-party one-time state is listed here, never our own code:
// OpenSSL's legacy provider (NTLM's MD4/RC4) allocates its provider context in
// OSSL_provider_init; OpenSSL's exit-time cleanup unloads legacy.so without freeing it, and
// the objects hanging off it are reported as indirect leaks whose stacks end inside libcrypto
// (no frame pointers there, so only the module name is available to match). Our own OpenSSL
// objects are owned by RAII wrappers (smb2/security/openssl_util.h).
extern "C" const char* __lsan_default_suppressions() {
  return "leak:OSSL_provider_init\n"
         "leak:legacy.so\n"
         "leak:libcrypto.so\n";
}
