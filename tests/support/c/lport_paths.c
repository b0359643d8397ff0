// Test helper for -L (tests/lport.rs): connects made outside connect(2),
// whose local port the tracepoint path learns only after the state change
// that reports them. Prints `MODE LOCALPORT` (getsockname once connected)
// after a connect to its own listener on 127.0.0.1:PORT, made once a line
// arrives on stdin (so the tracer can be started with its PID).
//
//   lport_paths tfo PORT       sendto(..., MSG_FASTOPEN) (needs tcp_fastopen & 1)
//   lport_paths uring PORT     io_uring IORING_OP_CONNECT (liburing), inline
//   lport_paths uring-wq PORT  the same forced to an io-wq worker (IOSQE_ASYNC)
//
// Built by the test with `cc ... -luring`.
#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void die(const char *what) { perror(what); exit(1); }

static unsigned short local_port(int fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	if (getsockname(fd, (struct sockaddr *)&a, &len) != 0)
		die("getsockname");
	return ntohs(a.sin_port);
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int listener = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(listener, (struct sockaddr *)&to, sizeof(to)) != 0 || listen(listener, 8) != 0)
		die("listen");
	char go[16];
	if (!fgets(go, sizeof(go), stdin))
		die("stdin");
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		die("socket");
	if (strcmp(argv[1], "tfo") == 0) {
		if (sendto(fd, "x", 1, MSG_FASTOPEN, (struct sockaddr *)&to, sizeof(to)) != 1)
			die("sendto MSG_FASTOPEN");
	} else if (strcmp(argv[1], "uring") == 0 || strcmp(argv[1], "uring-wq") == 0) {
		struct io_uring ring;
		int ret = io_uring_queue_init(4, &ring, 0);
		if (ret < 0) {
			fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-ret));
			return 1;
		}
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
		io_uring_prep_connect(sqe, fd, (struct sockaddr *)&to, sizeof(to));
		if (strcmp(argv[1], "uring-wq") == 0)
			io_uring_sqe_set_flags(sqe, IOSQE_ASYNC);
		io_uring_submit(&ring);
		struct io_uring_cqe *cqe;
		if (io_uring_wait_cqe(&ring, &cqe) != 0 || cqe->res != 0) {
			fprintf(stderr, "IORING_OP_CONNECT: %s\n", strerror(-cqe->res));
			return 1;
		}
		io_uring_cqe_seen(&ring, cqe);
		io_uring_queue_exit(&ring);
	} else {
		return 2;
	}
	printf("%s %u\n", argv[1], local_port(fd));
	fflush(stdout);
	usleep(200 * 1000);
	close(fd);
	return 0;
}
