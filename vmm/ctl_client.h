/*
 * `minivmm ctl SOCKET COMMAND [FIELD=VALUE]...`: send one request to a
 * running minivmm's control socket (--api-socket) and print its reply.
 */
#ifndef MINIVMM_CTL_CLIENT_H
#define MINIVMM_CTL_CLIENT_H

#include <stddef.h>

struct json_object;

/* Exit statuses of `minivmm ctl` (docs/usage.md, "minivmm ctl"). */
#define CTL_EXIT_OK	     0 /* the reply has no "error" */
#define CTL_EXIT_ERROR_REPLY 1 /* minivmm answered with an error */
#define CTL_EXIT_USAGE	     2 /* bad ctl command line */
#define CTL_EXIT_NO_REPLY    3 /* no connection, or no (valid) reply in time */

#define CTL_REPLY_TIMEOUT_MS 30000

/* argv[0] is "ctl". Returns the exit status. */
int ctl_main(int argc, char **argv);

/*
 * The request {"cmd": cmd, field: value...} from FIELD=VALUE words: a
 * VALUE that is a whole number becomes a number, true/false a boolean,
 * anything else a string.  NULL with the reason in err.
 */
struct json_object *ctl_build_request(const char *cmd, int nr_fields, char *const *fields,
				      char *err, size_t err_size);

#endif
