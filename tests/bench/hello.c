/* hello.c -- the HTTP ceiling baseline for `make bench`: the smallest
 * evhttp server that answers every request with a fixed JSON body, on the
 * same libevent as cityd, single-threaded like cityd. */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>

static void reply(struct evhttp_request *req, void *arg)
{
    (void)arg;
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, "{\"status\":\"ok\"}", 15);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/json; charset=utf-8");
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 8099;
    struct event_base *base = event_base_new();
    struct evhttp *h = evhttp_new(base);
    if (evhttp_bind_socket(h, "127.0.0.1", (unsigned short)port) != 0) {
        fprintf(stderr, "hello: cannot bind %d\n", port);
        return 1;
    }
    evhttp_set_gencb(h, reply, NULL);
    event_base_dispatch(base);
    evhttp_free(h);
    event_base_free(base);
    return 0;
}
