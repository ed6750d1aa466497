/*
 * test-agent-symbols.c - the agent's ELF readers on the programs
 * tests/symbols.cmake builds, without sampling: what names a pc gets is
 * decided here exactly; tests/e2e/symbols-e2e.sh checks the same through
 * the whole agent, daemon and client on real runs.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "drain/elfsyms.h"
#include "task.h"

static void load(struct oxa_elfsyms *e, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ASSERT_MSG(fd >= 0, "cannot open %s", path);
	ASSERT_EQ(oxa_elfsyms_load_fd(e, fd), 0);
	ASSERT_EQ(oxa_elfsyms_load_fdes_fd(e, fd), 0);
	close(fd);
}

/* The symbol called name in e: 1 and its address and size, or 0. */
static int sym(const struct oxa_elfsyms *e, const char *name, uint64_t *addr, uint64_t *size)
{
	for (size_t i = 0; i < e->n; i++)
		if (!strcmp(e->names + e->syms[i].name, name)) {
			*addr = e->syms[i].addr;
			*size = e->syms[i].size;
			return 1;
		}
	return 0;
}

/* Every pc of a static function of the stripped copy resolves to the FDE
 * that starts where .symtab of the unstripped build says the function does. */
TEST(agent_symbols_stripped_function_is_its_fde_start)
{
	struct oxa_elfsyms named, stripped;
	load(&named, OXT_STATICS);
	load(&stripped, OXT_STATICS_STRIPPED);
	const char *fns[] = { "hot_x", "hot_y", "hot_z", "begin", "run" };
	for (size_t i = 0; i < sizeof(fns) / sizeof(*fns); i++) {
		uint64_t a, size, start = 0;
		const char *name = NULL;
		ASSERT_MSG(sym(&named, fns[i], &a, &size) && size > 0, "no %s in .symtab", fns[i]);
		for (uint64_t pc = a; pc < a + size; pc++) {
			int k = oxa_elfsyms_resolve(&stripped, pc, &name, &start);
			ASSERT_MSG(k == OXA_ELF_FDE && start == a,
				   "%s+0x%llx: kind %d start 0x%llx, want an FDE at 0x%llx", fns[i],
				   (unsigned long long)(pc - a), k, (unsigned long long)start,
				   (unsigned long long)a);
		}
	}
	oxa_elfsyms_destroy(&named);
	oxa_elfsyms_destroy(&stripped);
}

/* A .dynsym symbol covers its own size only: the static functions after
 * it in the stripped copy are not it. */
TEST(agent_symbols_dynsym_symbol_does_not_swallow)
{
	struct oxa_elfsyms named, stripped;
	load(&named, OXT_STATICS);
	load(&stripped, OXT_STATICS_STRIPPED);
	uint64_t a, size, next = UINT64_MAX;
	ASSERT(sym(&stripped, "exported_before", &a, &size) && size > 0);
	for (size_t i = 0; i < named.n; i++)
		if (named.syms[i].addr > a && named.syms[i].addr < next)
			next = named.syms[i].addr;
	const char *name = NULL;
	uint64_t start;
	ASSERT_EQ(oxa_elfsyms_resolve(&stripped, a + size - 1, &name, &start), OXA_ELF_SYMBOL);
	ASSERT_STREQ(name, "exported_before");
	if (next != UINT64_MAX)
		ASSERT(oxa_elfsyms_resolve(&stripped, next, &name, &start) != OXA_ELF_SYMBOL ||
		       strcmp(name, "exported_before"));
	oxa_elfsyms_destroy(&named);
	oxa_elfsyms_destroy(&stripped);
}

/* Each stub a call goes through is NAME@plt (.plt or .plt.sec, and
 * .plt.got), and the size-less _init before the PLT names none of it. */
static void check_plt(const char *path)
{
	struct oxa_elfsyms e;
	load(&e, path);
	const char *want[] = { "plt_foo@plt", "plt_bar@plt", "printf@plt", "__cxa_finalize@plt" };
	for (size_t i = 0; i < sizeof(want) / sizeof(*want); i++) {
		uint64_t a, size, start;
		const char *name = NULL;
		ASSERT_MSG(sym(&e, want[i], &a, &size), "%s: no %s", path, want[i]);
		ASSERT(size == 8 || size == 16);
		for (uint64_t pc = a; pc < a + size; pc++) {
			ASSERT_EQ(oxa_elfsyms_resolve(&e, pc, &name, &start), OXA_ELF_SYMBOL);
			ASSERT_STREQ(name, want[i]);
		}
	}
	/* The .plt header (before the first stub) is the .plt's FDE, not _init. */
	uint64_t init, isize, stub = UINT64_MAX, start;
	ASSERT(sym(&e, "_init", &init, &isize));
	for (size_t i = 0; i < e.n; i++) {
		const char *nm = e.names + e.syms[i].name;
		size_t len = strlen(nm);
		if (len > 4 && !strcmp(nm + len - 4, "@plt") && e.syms[i].addr < stub)
			stub = e.syms[i].addr;
	}
	const char *name = NULL;
	ASSERT(stub != UINT64_MAX && stub > init);
	int k = oxa_elfsyms_resolve(&e, stub - 8, &name, &start);
	ASSERT_MSG(k == OXA_ELF_FDE, "%s: the PLT header is kind %d (%s)", path, k, name ? name : "");
	oxa_elfsyms_destroy(&e);
}

TEST(agent_symbols_plt_stubs_are_name_at_plt)
{
	check_plt(OXT_PLTCALL);
}

TEST(agent_symbols_ibt_plt_stubs_are_name_at_plt)
{
	check_plt(OXT_PLTCALL_IBT);
}
