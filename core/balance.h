/*
 * balance.h - where sessions should live: packed onto few workers while
 * the proxy's load is light, spread over more as it grows.
 *
 * Every worker wakes for its own events.  On CPUs shared with the
 * database and the clients, each extra thread that wakes per request
 * costs a context switch, so a light load runs cheapest on one worker;
 * a heavy one needs them all.  These are the decisions only, as pure
 * functions; worker.c measures the load and session.c moves sessions
 * (at a transaction boundary, with nothing buffered).
 */
#ifndef LMS_BALANCE_H
#define LMS_BALANCE_H

/* CPU (in CPUs) per worker in use above which one more worker is used,
 * and, for one worker fewer, below which one is given up.  The gap keeps
 * the count from flapping: spreading costs some CPU itself. */
#define LMS_BALANCE_GROW 0.70
#define LMS_BALANCE_SHRINK 0.45

/* How many workers should serve sessions next: active now in use, total
 * the CPU all workers used over the last interval (in CPUs), nworkers
 * started.  Moves one step at a time; always 1 to nworkers. */
int lms_balance_active(double total, int active, int nworkers);

/* Where worker self should hand its sessions, given busy[i] (sessions of
 * worker i that ran a request in the last interval) for i < nworkers and
 * the workers in use (0 to active-1).  A worker outside them hands every
 * session to the least busy one in use; one in use hands half of its
 * lead to the least busy other one when it leads by 2 or more.  Returns
 * that worker's index and sets *quota (how many to move), or returns -1
 * (keep them). */
int lms_balance_target(int self, int active, const int *busy, int nworkers, int *quota);

#endif
