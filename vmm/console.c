#include "console.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "vm_config.h"
#include "devices/serial.h"
#include "log.h"
#include "threads.h"
#include "vm.h"

#define CONSOLE_READ_SIZE 256

static const char console_help[] = "\r\nminivmm console: Ctrl-A x  quit\r\n"
				   "                 Ctrl-A Ctrl-A  send Ctrl-A to the guest\r\n"
				   "                 Ctrl-A h  this help\r\n";

/* Terminal state to restore; raw_mode_on guards it so restoring happens once. */
static struct termios saved_termios;
static atomic_int raw_mode_on;
static atomic_bool restore_registered;

/*
 * The input thread feeds the UART only under feed_lock and only while
 * feed_serial is set, so console_stop_input() can end its use of the UART.
 */
static pthread_mutex_t feed_lock = PTHREAD_MUTEX_INITIALIZER;
static struct serial *feed_serial;
static struct vm *feed_vm;
static atomic_bool input_started;

/* The --console file: created by console_open_output(), truncated only at start. */
static int output_file_fd = -1;
static bool output_file_created;

int console_open_output(const struct vm_config *cfg)
{
	int fd;

	switch (cfg->console) {
	case CONSOLE_NONE:
		return -1;
	case CONSOLE_FILE:
		/* Not truncated yet: a VM that fails to start leaves an existing
		 * file as it was, and removes one it created. */
		fd = open(cfg->console_path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
		output_file_created = fd >= 0;
		if (fd < 0 && errno == EEXIST)
			fd = open(cfg->console_path, O_WRONLY | O_CLOEXEC);
		if (fd < 0) {
			log_errno("--console file:%s", cfg->console_path);
			return -2;
		}
		output_file_fd = fd;
		return fd;
	default:
		return STDOUT_FILENO;
	}
}

void console_output_begin(void)
{
	if (output_file_fd >= 0 && ftruncate(output_file_fd, 0) < 0)
		log_errno("--console file: truncate");
}

void console_output_abandon(const struct vm_config *cfg)
{
	if (output_file_created)
		unlink(cfg->console_path);
	output_file_created = false;
}

void console_restore(void)
{
	/* Only async-signal-safe calls: main's signal handlers call this. */
	if (atomic_exchange(&raw_mode_on, 0))
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);
}

static void console_restore_at_exit(void)
{
	console_restore();
}

size_t console_filter(struct console_escape *esc, const uint8_t *in, size_t len, uint8_t *out,
		      unsigned int *events)
{
	size_t n = 0;

	*events = 0;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = in[i];

		if (!esc->after_escape) {
			if (c == CONSOLE_ESCAPE_CHAR)
				esc->after_escape = true;
			else
				out[n++] = c;
			continue;
		}
		esc->after_escape = false;
		if (c == 'x' || c == 'X') {
			*events |= CONSOLE_EVENT_QUIT;
			return n;
		}
		if (c == 'h' || c == 'H' || c == '?') {
			*events |= CONSOLE_EVENT_HELP;
			continue;
		}
		/* Ctrl-A Ctrl-A sends one Ctrl-A; an unknown command passes both bytes on. */
		out[n++] = CONSOLE_ESCAPE_CHAR;
		if (c != CONSOLE_ESCAPE_CHAR)
			out[n++] = c;
	}
	return n;
}

/* False once the console was stopped or the VM is stopping. */
static bool feed_guest(const uint8_t *buf, size_t len)
{
	bool live;

	pthread_mutex_lock(&feed_lock);
	live = feed_serial && atomic_load(&feed_vm->stop_reason) == VM_RUNNING;
	if (live && len)
		serial_receive(feed_serial, buf, len);
	pthread_mutex_unlock(&feed_lock);
	return live;
}

static void *console_input_thread(void *arg)
{
	struct console_escape esc = {0};
	uint8_t in[CONSOLE_READ_SIZE], out[CONSOLE_READ_SIZE + 1];

	(void)arg;
	threads_register_self("console-in", THREAD_CONSOLE);
	for (;;) {
		ssize_t n = read(STDIN_FILENO, in, sizeof(in));
		unsigned int events;
		size_t m;

		if (n == 0)
			break; /* EOF: the guest keeps running without input */
		if (n < 0) {
			struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};

			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				/* stdin was inherited non-blocking: wait instead of spinning. */
				poll(&pfd, 1, -1);
				continue;
			}
			log_errno("console: reading stdin");
			break;
		}
		m = console_filter(&esc, in, (size_t)n, out, &events);
		if (!feed_guest(out, m))
			break;
		if (events & CONSOLE_EVENT_HELP) {
			ssize_t w = write(STDERR_FILENO, console_help, sizeof(console_help) - 1);

			(void)w; /* best effort */
		}
		if (events & CONSOLE_EVENT_QUIT) {
			pthread_mutex_lock(&feed_lock);
			if (feed_serial)
				vm_request_stop(feed_vm, VM_STOP_CONSOLE, 0);
			pthread_mutex_unlock(&feed_lock);
			break;
		}
	}
	threads_exit_self();
	return NULL;
}

static int enter_raw_mode(void)
{
	struct termios raw;

	if (tcgetattr(STDIN_FILENO, &saved_termios) < 0) {
		log_errno("console: tcgetattr");
		return -1;
	}
	if (!atomic_exchange(&restore_registered, true) && atexit(console_restore_at_exit) != 0) {
		log_error("console: cannot register terminal restoration");
		return -1;
	}
	raw = saved_termios;
	/*
	 * The guest is the terminal driver: no echo, no line editing, no
	 * signals (Ctrl-C goes to the guest), no CR/NL or flow-control
	 * translation on input.  Output post-processing stays on so guests
	 * that print bare "\n" still start lines at column 0.
	 */
	raw.c_iflag &=
	    ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
	raw.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	raw.c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
	raw.c_cflag |= CS8;
	raw.c_cc[VMIN] = 1;
	raw.c_cc[VTIME] = 0;
	/* Mark raw before switching, so a signal in between still restores. */
	atomic_store(&raw_mode_on, 1);
	if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) < 0) {
		atomic_store(&raw_mode_on, 0);
		log_errno("console: tcsetattr");
		return -1;
	}
	return 0;
}

int console_start_input(struct vm *vm, struct serial *s)
{
	pthread_attr_t attr;
	pthread_t thread;
	int ret;

	if (vm->cfg->console != CONSOLE_STDIO)
		return 0;
	if (atomic_exchange(&input_started, true)) {
		log_error("console: input already started");
		return -1;
	}
	if (isatty(STDIN_FILENO)) {
		/* A background job touching the terminal would be stopped by SIGTTOU/SIGTTIN. */
		if (tcgetpgrp(STDIN_FILENO) != getpgrp()) {
			log_info("console: not in the terminal's foreground, guest input disabled");
			return 0;
		}
		if (enter_raw_mode() < 0)
			return -1;
	}
	pthread_mutex_lock(&feed_lock);
	feed_serial = s;
	feed_vm = vm;
	pthread_mutex_unlock(&feed_lock);

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	ret = pthread_create(&thread, &attr, console_input_thread, NULL);
	pthread_attr_destroy(&attr);
	if (ret != 0) {
		errno = ret;
		log_errno("console: cannot start the input thread");
		console_stop_input();
		console_restore();
		return -1;
	}
	return 0;
}

void console_stop_input(void)
{
	pthread_mutex_lock(&feed_lock);
	feed_serial = NULL;
	pthread_mutex_unlock(&feed_lock);
}

void console_end_guest_line(struct serial *s, int out_fd)
{
	struct stat out, err;

	if (out_fd < 0 || !s || !serial_output_mid_line(s))
		return;
	if (fstat(out_fd, &out) < 0 || fstat(STDERR_FILENO, &err) < 0)
		return;
	if (out.st_dev == err.st_dev && out.st_ino == err.st_ino)
		fputc('\n', stderr);
}
