/* LD_PRELOAD shim for wrk: every reconnection makes a full TLS handshake.

   wrk closes a connection with SSL_shutdown + SSL_clear and reuses the SSL object for the next
   one; SSL_clear keeps the session, so with `Connection: close` wrk resumes (TLS 1.3 tickets)
   nearly every handshake. This drops the session first. bench.py builds it for the
   *+tls-handshake rows (cc -shared -fPIC -o wrk_no_resume.so wrk_no_resume.c -ldl) and checks
   with nginx's $ssl_session_reused that no handshake is resumed. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>

typedef struct ssl_st SSL;
typedef struct ssl_session_st SSL_SESSION;
int SSL_set_session(SSL *ssl, SSL_SESSION *session);

int SSL_clear(SSL *ssl) {
  static int (*real)(SSL *) = NULL;
  if (!real) real = (int (*)(SSL *))dlsym(RTLD_NEXT, "SSL_clear");
  SSL_set_session(ssl, NULL); /* releases the session: nothing to offer next time */
  return real(ssl);
}
