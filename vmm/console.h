/*
 * The serial console on the host side: where guest output goes, and the
 * thread that feeds stdin to the guest, with the terminal in raw mode and
 * the escape key Ctrl-A (Ctrl-A x quits, Ctrl-A Ctrl-A sends Ctrl-A,
 * Ctrl-A h prints help).
 */
#ifndef MINIVMM_CONSOLE_H
#define MINIVMM_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct vm_config;
struct serial;

/*
 * The fd guest output goes to: stdout (--console stdio), -1 (none), or a
 * file (file:PATH, truncated by console_output_begin()).  -2 after logging why the file could not
 * be opened.  SIGPIPE must be ignored (main does) so that a closed output
 * pipe is a write error the UART handles, not a death with the terminal raw.
 */
int console_open_output(const struct vm_config *cfg);

/* The VM is about to run: truncate the --console file. */
void console_output_begin(void);

/* Setup failed: remove the --console file if console_open_output created it. */
void console_output_abandon(const struct vm_config *cfg);

/*
 * With --console stdio: put a terminal stdin in raw mode (restored at exit
 * and by console_restore()) and start a detached thread that feeds stdin to
 * s.  EOF on stdin only stops the thread.  0, or -1 after logging why.
 */
int console_start_input(struct vm *vm, struct serial *s);

/*
 * The VM has stopped: when the guest's output (on out_fd, from s) ended in
 * the middle of a line - a shell prompt - and out_fd is the same file as
 * stderr (a terminal, or `>log 2>&1`), end that line on stderr, so that
 * minivmm's final line starts a line of its own.
 */
void console_end_guest_line(struct serial *s, int out_fd);

/* Stop feeding s; after this returns serial_destroy(s) is safe. */
void console_stop_input(void);

/* Restore the terminal.  Idempotent and async-signal-safe. */
void console_restore(void);

#define CONSOLE_ESCAPE_CHAR 0x01 /* Ctrl-A */

struct console_escape {
	bool after_escape; /* the previous byte was an unpaired Ctrl-A */
};

enum console_event {
	CONSOLE_EVENT_QUIT = 1, /* Ctrl-A x */
	CONSOLE_EVENT_HELP = 2, /* Ctrl-A h */
};

/*
 * Interpret escape sequences in len typed bytes.  Copies what the guest
 * should receive to out (room for len + 1 bytes) and returns its length;
 * *events gets CONSOLE_EVENT_* bits.  Bytes after Ctrl-A x are discarded.
 */
size_t console_filter(struct console_escape *esc, const uint8_t *in, size_t len, uint8_t *out,
		      unsigned int *events);

#endif
