#include "host_info.h"

#include <dirent.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "json_number.h"
#include "text_file.h"

const char *host_kvm_module(const char *sys_module_dir, char *buf, size_t size)
{
	DIR *dir = opendir(sys_module_dir);
	const char *found = NULL;
	struct dirent *e;

	if (!dir)
		return NULL;
	while ((e = readdir(dir))) {
		/* KVM's vendor modules are kvm_NAME; they win over the core "kvm". */
		if (!strncmp(e->d_name, "kvm_", 4) && strlen(e->d_name) < size) {
			snprintf(buf, size, "%s", e->d_name);
			found = buf;
			break;
		}
		if (!strcmp(e->d_name, "kvm") && size > 3) {
			snprintf(buf, size, "kvm");
			found = buf;
		}
	}
	closedir(dir);
	return found;
}

const char *host_cpu_model(const char *cpuinfo, char *buf, size_t size)
{
	const char *p = strstr(cpuinfo, "model name");
	size_t len;

	buf[0] = '\0';
	if (!p || !(p = strchr(p, ':')))
		return buf;
	p += strspn(p + 1, " \t") + 1;
	len = strcspn(p, "\n");
	if (len >= size)
		len = size - 1;
	memcpy(buf, p, len);
	buf[len] = '\0';
	return buf;
}

struct json_object *host_info(void)
{
	struct json_object *o = json_object_new_object();
	size_t text_size = 65536; /* the start of each file is enough */
	char *text = malloc(text_size);
	char name[64];
	struct utsname u;

	if (!text)
		return o;

	if (uname(&u) == 0) {
		json_object_object_add(o, "kernel", json_object_new_string(u.release));
		json_object_object_add(o, "machine", json_object_new_string(u.machine));
	}
	/* The start is enough: the first CPU's lines. */
	text_file_read("/proc/cpuinfo", text, text_size);
	json_object_object_add(o, "cpu_model",
			       json_object_new_string(host_cpu_model(text, name, sizeof(name))));
	json_object_object_add(o, "cpus_online",
			       json_object_new_int64(sysconf(_SC_NPROCESSORS_ONLN)));
	if (host_kvm_module("/sys/module", name, sizeof(name)))
		json_object_object_add(o, "kvm_module", json_object_new_string(name));
	else
		json_object_object_add(o, "kvm_module", NULL);
	free(text);
	return o;
}

struct json_object *host_loadavg(void)
{
	double load[3];
	struct json_object *a;

	if (getloadavg(load, 3) != 3)
		return NULL;
	a = json_object_new_array();
	/* Two decimals, as uptime(1) shows them. */
	for (int i = 0; i < 3; i++)
		json_object_array_add(a, json_fixed_double(load[i], 2));
	return a;
}
