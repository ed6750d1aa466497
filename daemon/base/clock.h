/* clock.h - the daemon's one wall clock. */
#ifndef OXD_CLOCK_H
#define OXD_CLOCK_H

#include <stdint.h>

/* Unix time in ms. */
uint64_t oxd_now_ms(void);

#endif
