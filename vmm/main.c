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
#include "api_commands.h"
#include "config.h"
#include "console.h"
#include "ctl_client.h"
#include "devices.h"
#include "kvm.h"
#include "kvm_trace.h"
#include "log.h"
#include "pidfile.h"
#include "seccomp.h"
#include "stats.h"
#include "threads.h"
#include "vcpu.h"
#include "vm.h"

static struct vm the_vm;
static struct api_vm the_api; /* the control socket (--api-socket) */

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

/*
 * Block SIGINT/SIGTERM/SIGHUP (stop), SIGUSR1 (statistics snapshot) and
 * SIGIO (a kernel file's read lease is breaking: guest_mem_load) and
 * return a signalfd for them, read by main only.  Threads created later
 * inherit the mask, so these signals reach only the signalfd.
 */
static int setup_signals(void)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGIO);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	return signalfd(-1, &set, SFD_CLOEXEC);
}

/* Sleep until a stop is requested or a signal arrives. */
static void wait_for_stop(struct vm *vm, int sig_fd)
{
	struct pollfd fds[2 + API_SERVER_POLLFDS] = {
	    {.fd = vm->stop_pipe[0], .events = POLLIN},
	    {.fd = sig_fd, .events = POLLIN}, /* poll skips it when < 0 */
	};

	while (atomic_load(&vm->stop_reason) == VM_RUNNING) {
		/* Then the control socket and its clients, if any. */
		unsigned int nfds = 2 + api_pollfds(&the_api, fds + 2);

		if (poll(fds, nfds, api_timeout_ms(&the_api)) < 0 && errno != EINTR)
			break;
		api_process(&the_api, fds + 2, nfds - 2);
		if (sig_fd >= 0 && (fds[1].revents & POLLIN)) {
			struct signalfd_siginfo si;

			if (read(sig_fd, &si, sizeof(si)) != sizeof(si))
				continue;
			if (si.ssi_signo == SIGIO) {
				uint64_t bytes = guest_mem_privatise(&vm->mem);

				/* Only now, with its leases dropped, may the writer go on. */
				if (bytes)
					log_info("a --kernel/--initrd file is being changed: the "
						 "guest keeps its own copy (%llu KiB)",
						 (unsigned long long)(bytes >> 10));
				continue;
			}
			if (si.ssi_signo == SIGUSR1) {
				if (vm->cfg->stats)
					stats_report(vm, false);
				else
					log_info("SIGUSR1: no report to write without --stats");
				continue;
			}
			log_info("received signal %u, stopping the VM", si.ssi_signo);
			vm_request_stop(vm, VM_STOP_SIGNAL, (int)si.ssi_signo);
		}
	}
}

static int run(const struct vm_config *cfg)
{
	struct vm *vm = &the_vm;
	struct serial *console;
	int console_fd, sig_fd, status;

	/* exec, the dynamic linker and glibc's CPU feature probe (CPUID). */
	log_startup_step("process start");
	threads_register_self("minivmm", THREAD_MAIN);
	/* First, while no other thread runs (the socket gets 0600 through umask). */
	api_init(&the_api, vm);
	if (cfg->api_socket && api_start(&the_api, vm, cfg->api_socket) < 0)
		return EXIT_STATUS_ERROR;
	if (cfg->pidfile && pidfile_write(cfg->pidfile) < 0)
		return EXIT_STATUS_ERROR;
	/* Every thread started from now on filters itself as it registers. */
	if (cfg->seccomp) {
		if (vmm_seccomp_prepare_start() < 0)
			return EXIT_STATUS_ERROR;
		threads_set_start_hook(vmm_seccomp_install_self);
	}
	log_startup_step("seccomp");
	if (cfg->stats || cfg->api_socket) /* the control socket's "stats" too */
		stats_begin();
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
	if (vcpus_create(vm) < 0 || arch_vcpus_ready(vm) < 0)
		goto fail;
	log_startup_step("vcpus");
	if (cfg->stats)
		kvm_trace_create(vm);
	console_output_begin();
	if (console_start_input(vm, console) < 0)
		return EXIT_STATUS_ERROR;
	if (vcpus_start(vm) < 0) {
		console_restore();
		return EXIT_STATUS_ERROR;
	}
	/* Last: setting up needs far more system calls than running. */
	if (cfg->seccomp) {
		/* Not before the first KVM_RUN: start-up CPU time is the whole process's. */
		vcpus_wait_started();
		if (vmm_seccomp_prepare_rest() < 0) {
			vm_request_stop(vm, VM_STOP_ERROR, 0);
			vcpus_stop(vm);
			console_restore();
			return EXIT_STATUS_ERROR;
		}
		vmm_seccomp_install_self("minivmm", THREAD_MAIN);
	}
	wait_for_stop(vm, sig_fd);
	vcpus_stop(vm);
	console_restore();
	console_end_guest_line(console, console_fd);
	status = vm_exit_status(vm);
	/* A report that was asked for and not written fails the run. */
	if (cfg->stats && stats_report(vm, true) < 0)
		status = EXIT_STATUS_ERROR;
	kvm_trace_destroy(vm);
	devices_destroy();
	return status;
fail:
	console_output_abandon(cfg);
	return EXIT_STATUS_ERROR;
}

int main(int argc, char **argv)
{
	static struct vm_config cfg;
	char err[512], why[1024];
	int status;

	if (argc > 1 && !strcmp(argv[1], "ctl"))
		return ctl_main(argc - 1, argv + 1);
	switch (config_parse(&cfg, argc, argv, err, sizeof(err), stdout)) {
	case CONFIG_EXIT_SUCCESS:
		return 0;
	case CONFIG_ERROR:
		fprintf(stderr, "minivmm: %s\nTry 'minivmm --help' for more information.\n", err);
		return EXIT_STATUS_USAGE;
	case CONFIG_OK:
		break;
	}
	/* Before the VM runs, not after: a long run must not end in a lost report. */
	if (cfg.stats_path && stats_check_path(cfg.stats_path, err, sizeof(err)) < 0) {
		fprintf(stderr, "minivmm: %s\n", err);
		return EXIT_STATUS_USAGE;
	}
	log_verbose = cfg.verbose;
	status = run(&cfg);
	/* Always the last line, whatever -v and --console say (docs/usage.md). */
	vm_describe_stop(&the_vm, status, why, sizeof(why));
	log_info("stopped: %s", why);
	/* exit() rather than return: other threads may still block in read(). */
	exit(status);
}
