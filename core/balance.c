/*
 * balance.c - how many workers to use, and where a worker's sessions go.
 */
#include "autoconfig.h"

#include <limits.h>

#include "balance.h"

int lms_balance_active(double total, int active, int nworkers)
{
	if (nworkers <= 1)
		return 1;
	if (active < 1)
		active = 1;
	if (active > nworkers)
		active = nworkers;
	if (active < nworkers && total > active * LMS_BALANCE_GROW)
		return active + 1;
	if (active > 1 && total < (active - 1) * LMS_BALANCE_SHRINK)
		return active - 1;
	return active;
}

int lms_balance_target(int self, int active, const int *busy, int nworkers, int *quota)
{
	*quota = 0;
	if (active > nworkers)
		active = nworkers;
	int best = -1;
	for (int i = 0; i < active; i++) {
		if (i != self && (best < 0 || busy[i] < busy[best]))
			best = i;
	}
	if (best < 0)
		return -1;
	if (self >= active) {
		*quota = INT_MAX;
		return best;
	}
	int lead = busy[self] - busy[best];
	if (lead < 2)
		return -1;
	*quota = lead / 2;
	return best;
}
