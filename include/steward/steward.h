/* steward: goroutine-safe objects for C. This header includes every public
 * module; include just the ones you use if you prefer. */
#ifndef STEWARD_STEWARD_H
#define STEWARD_STEWARD_H

#include "steward/status.h"
#include "steward/chan.h"
#include "steward/owner.h"
#include "steward/db.h"
#include "steward/account.h"
#include "steward/task.h"

#endif
