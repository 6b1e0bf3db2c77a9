/* minivmm: parse the command line, build the VM, run it, report why it stopped. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "arch/arch.h"
#include "config.h"
#include "console.h"
#include "devices.h"
#include "kvm.h"
#include "log.h"
#include "stats.h"
#include "vcpu.h"
#include "vm.h"

static struct vm the_vm;

/* With -v, where the start-up CPU time goes (the --stats startup_cpu_us total). */
static void log_startup_step(const char *step)
{
	struct timespec ts;

	if (!log_verbose)
		return;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	log_debug("start-up: %-13s done at %6ld us CPU", step,
		  ts.tv_sec * 1000000L + ts.tv_nsec / 1000);
}

/* Block SIGINT/SIGTERM and return a signalfd for them, read by main only. */
static int setup_signals(void)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	return signalfd(-1, &set, SFD_CLOEXEC);
}

/* Sleep until a stop is requested or a signal arrives. */
static void wait_for_stop(struct vm *vm, int sig_fd)
{
	struct pollfd fds[2] = {
	    {.fd = vm->stop_pipe[0], .events = POLLIN},
	    {.fd = sig_fd, .events = POLLIN},
	};

	while (atomic_load(&vm->stop_reason) == VM_RUNNING) {
		if (poll(fds, sig_fd >= 0 ? 2 : 1, -1) < 0 && errno != EINTR)
			break;
		if (sig_fd >= 0 && (fds[1].revents & POLLIN)) {
			struct signalfd_siginfo si;

			if (read(sig_fd, &si, sizeof(si)) == sizeof(si)) {
				log_info("received signal %u, stopping the VM", si.ssi_signo);
				vm_request_stop(vm, VM_STOP_SIGNAL, (int)si.ssi_signo);
			}
		}
	}
}

static void write_stats_report(struct vm *vm)
{
	FILE *out = stderr;

	if (vm->cfg->stats_path) {
		out = fopen(vm->cfg->stats_path, "w");
		if (!out) {
			log_errno("--stats %s", vm->cfg->stats_path);
			return;
		}
	}
	stats_print(vm, out);
	if (out != stderr)
		fclose(out);
}

static int run(const struct vm_config *cfg)
{
	struct vm *vm = &the_vm;
	struct serial *console;
	int console_fd, sig_fd;

	sig_fd = setup_signals();
	if (vm_create(vm, cfg) < 0 || arch_check_host(vm) < 0 || arch_vm_init(vm) < 0)
		return EXIT_STATUS_ERROR;
	log_startup_step("vm_create");
	snprintf(vm->cmdline, sizeof(vm->cmdline), "%s",
		 cfg->cmdline ? cfg->cmdline : CONFIG_DEFAULT_CMDLINE);
	console_fd = console_open_output(cfg);
	if (console_fd == -2)
		return EXIT_STATUS_ERROR;
	console = arch_board_init(vm, console_fd);
	if (!console || devices_create(vm) < 0)
		goto fail;
	log_startup_step("devices");
	if (arch_load_kernel(vm) < 0)
		goto fail;
	log_startup_step("kernel load");
	if (vcpus_create(vm) < 0)
		goto fail;
	log_startup_step("vcpus");
	console_output_begin();
	if (console_start_input(vm, console) < 0)
		return EXIT_STATUS_ERROR;
	if (vcpus_start(vm) < 0) {
		console_restore();
		return EXIT_STATUS_ERROR;
	}
	wait_for_stop(vm, sig_fd);
	vcpus_stop(vm);
	console_restore();
	if (cfg->stats)
		write_stats_report(vm);
	devices_destroy();
	log_debug("stopped: exit status %d", vm_exit_status(vm));
	return vm_exit_status(vm);
fail:
	console_output_abandon(cfg);
	return EXIT_STATUS_ERROR;
}

int main(int argc, char **argv)
{
	static struct vm_config cfg;
	char err[512];

	switch (config_parse(&cfg, argc, argv, err, sizeof(err), stdout)) {
	case CONFIG_EXIT_SUCCESS:
		return 0;
	case CONFIG_ERROR:
		fprintf(stderr, "minivmm: %s\nTry 'minivmm --help' for more information.\n", err);
		return EXIT_STATUS_USAGE;
	case CONFIG_OK:
		break;
	}
	log_verbose = cfg.verbose;
	/* exit() rather than return: other threads may still block in read(). */
	exit(run(&cfg));
}
