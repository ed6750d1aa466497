/*
 * test-list.c - the table the runner walks, built from this binary's list
 * of cases (test-list.h, one OXT_ENTRY(name) per case, generated from the
 * TEST lines of its sources), in libuv's test-list.h manner: declare each
 * case, then list them in order.
 *
 * A case compiled out (inside an #if) is still in the list; its reference is
 * weak, so it links as NULL and the runner leaves it out.
 */
#include "task.h"

#define OXT_ENTRY(name) extern const struct oxt_case oxt_case_##name __attribute__((weak));
#include "test-list.h"
#undef OXT_ENTRY

#define OXT_ENTRY(name) &oxt_case_##name,
const struct oxt_case *const oxt_list[] = {
#include "test-list.h"
	NULL,
};
const int oxt_nlist = (int)(sizeof(oxt_list) / sizeof(oxt_list[0])) - 1;
