/*
 * A small builder of ACPI Machine Language (ACPI 6.x, chapter 20), enough
 * for a DSDT that describes a VM's devices: names, integers, strings,
 * EISA IDs, scopes, devices, methods, packages, If, LEqual, Notify, Return
 * and resource templates (ACPI 6.x, 6.4).  It is architecture-neutral and
 * knows no VM: the architecture's table code (arch/x86/acpi.c) says what
 * to emit.
 *
 * Everything is written into a caller's buffer, never beyond it.  Errors
 * (the buffer is full, a malformed name or ID, blocks opened and closed
 * out of balance) are sticky: later calls do nothing and aml_finish()
 * returns 0, so a caller checks once at the end.
 *
 * AML is prefix notation: an operator is followed by its operands, so
 *     aml_if(a); aml_lequal(a); aml_arg(a, 0); aml_integer(a, 12);
 *         aml_notify(a); aml_name_string(a, "PWRB"); aml_integer(a, 0x80);
 *     aml_end(a);
 * is `If (Arg0 == 12) { Notify (PWRB, 0x80) }`.  aml_scope, aml_device,
 * aml_method, aml_package and aml_if open a block whose length (a
 * PkgLength) is filled in by the matching aml_end().
 */
#ifndef MINIVMM_AML_H
#define MINIVMM_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AML_MAX_DEPTH 16 /* blocks open at once */

struct aml {
	uint8_t *buf;
	size_t size, len;
	size_t open[AML_MAX_DEPTH]; /* where each open block's length goes */
	unsigned int depth;
	bool error;
};

void aml_init(struct aml *a, uint8_t *buf, size_t size);

/* Bytes written, or 0 after any error or with a block still open. */
size_t aml_finish(struct aml *a);

/* --- Data objects --- */

/* Zero, One, Ones or the shortest of Byte/Word/DWord/QWord. */
void aml_integer(struct aml *a, uint64_t value);
/* A String of printable ASCII. */
void aml_string(struct aml *a, const char *s);
/* The compressed EISA ID of "PNP0A03" (3 capitals, 4 hex digits) as an integer. */
void aml_eisaid(struct aml *a, const char *id);
/*
 * A NameString: "\\_SB_.PCI0", "^PWRB", "VR0"; each segment is 1 to 4
 * characters (A-Z, 0-9, _; not starting with a digit) and is padded with
 * '_' to 4.
 */
void aml_name_string(struct aml *a, const char *path);
/* Buffer { bytes }. */
void aml_buffer(struct aml *a, const uint8_t *data, size_t len);

/* --- Named objects and blocks --- */

/* Name (name, <the data object the caller writes next>). */
void aml_name(struct aml *a, const char *name);
/* Scope (path) {, Device (name) {. */
void aml_scope(struct aml *a, const char *path);
void aml_device(struct aml *a, const char *name);
/* Method (name, nargs (0-7), Serialized or NotSerialized) {. */
void aml_method(struct aml *a, const char *name, unsigned int nargs, bool serialized);
/* Package (count) { <count data objects> (count <= 255). */
void aml_package(struct aml *a, unsigned int count);
/* If (<predicate the caller writes next>) {. */
void aml_if(struct aml *a);
/* Closes the innermost open block. */
void aml_end(struct aml *a);

/* --- Operators (operands follow) --- */

void aml_lequal(struct aml *a);		     /* LEqual (operand, operand) */
void aml_notify(struct aml *a);		     /* Notify (object, value) */
void aml_return(struct aml *a);		     /* Return (operand) */
void aml_arg(struct aml *a, unsigned int n); /* Arg0..Arg6 */

/* --- Resource templates (ResourceTemplate () { ... }) --- */

#define AML_RESOURCES_MAX 512

struct aml_resources {
	uint8_t buf[AML_RESOURCES_MAX];
	size_t len;
	bool error;
};

void aml_resources_init(struct aml_resources *r);
/* IO (Decode16, min, max, align, length). */
void aml_res_io(struct aml_resources *r, uint16_t min, uint16_t max, uint8_t align, uint8_t length);
/* Memory32Fixed (ReadWrite or ReadOnly, base, length). */
void aml_res_memory32_fixed(struct aml_resources *r, bool writable, uint32_t base, uint32_t length);
/* Interrupt (ResourceConsumer, Edge or Level, ActiveHigh or ActiveLow, Exclusive or Shared) {gsi}.
 */
void aml_res_interrupt(struct aml_resources *r, bool edge, bool active_low, bool shared,
		       uint32_t gsi);
/* A bridge's windows: WordBusNumber, WordIO (entire range) and DWordMemory
 * (non-cacheable, read-write), each ResourceProducer, MinFixed, MaxFixed,
 * PosDecode, covering [min, max]. */
void aml_res_word_bus_number(struct aml_resources *r, uint16_t min, uint16_t max);
void aml_res_word_io(struct aml_resources *r, uint16_t min, uint16_t max);
void aml_res_dword_memory(struct aml_resources *r, uint32_t min, uint32_t max);
/* The template as a Buffer, with its end tag; an error in r makes a an error. */
void aml_resource_template(struct aml *a, const struct aml_resources *r);

#endif
