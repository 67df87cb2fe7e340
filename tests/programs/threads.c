/* Three POSIX threads, one per application node, synchronising through
 * futexes (a mutex and a condition variable, strict round robin), plus
 * the edges of the LWK's thread policy: a fourth thread while three run
 * is refused with EAGAIN (one thread per node, 3 application nodes with
 * --nodes 4), a node freed by a joined thread is used again, a timed wait
 * nobody signals times out, and sleeping threads do not stop the others.
 * Prints only lines that are the same on every run. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define THREADS 3
#define ROUNDS 300

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static pthread_barrier_t barrier;
static long counter;
static int turn;
static int cpu_of[THREADS];
static long tid_of[THREADS];

/* The only CPU the thread may run on, or -1 if it may run on several. */
static int pinned_cpu(void) {
	cpu_set_t set;
	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof set, &set) != 0 || CPU_COUNT(&set) != 1)
		return -1;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set))
			return c;
	return -1;
}

static void *worker(void *arg) {
	int me = (int)(long)arg;
	cpu_of[me] = pinned_cpu();
	tid_of[me] = syscall(SYS_gettid);
	if (me == 2) {
		struct timespec nap = {0, 2 * 1000 * 1000};
		nanosleep(&nap, NULL);
	}
	if (me != 0) {
		/* Everybody is alive: main tries a fourth thread now. */
		pthread_barrier_wait(&barrier);
		pthread_barrier_wait(&barrier);
	}
	for (int i = 0; i < ROUNDS; i++) {
		pthread_mutex_lock(&lock);
		while (turn != me)
			pthread_cond_wait(&cond, &lock);
		counter++;
		turn = (turn + 1) % THREADS;
		pthread_cond_broadcast(&cond);
		pthread_mutex_unlock(&lock);
	}
	return (void *)(long)(me * 10);
}

static void *nothing(void *arg) { return arg; }

int main(void) {
	pthread_t t[THREADS];
	pthread_barrier_init(&barrier, NULL, THREADS);
	for (long i = 1; i < THREADS; i++)
		if (pthread_create(&t[i], NULL, worker, (void *)i) != 0) {
			printf("pthread_create %ld failed\n", i);
			return 1;
		}
	cpu_of[0] = pinned_cpu();
	tid_of[0] = syscall(SYS_gettid);
	pthread_barrier_wait(&barrier);
	pthread_t extra;
	int e = pthread_create(&extra, NULL, nothing, NULL);
	printf("fourth thread: %s\n", e == EAGAIN ? "EAGAIN" : e == 0 ? "started" : strerror(e));
	if (e == 0)
		pthread_join(extra, NULL);
	pthread_barrier_wait(&barrier);
	worker((void *)0);
	long sum = 0;
	for (int i = 1; i < THREADS; i++) {
		void *r;
		pthread_join(t[i], &r);
		sum += (long)r;
	}
	printf("counter %ld of %d, join values %ld\n", counter, THREADS * ROUNDS, sum);
	int distinct = 1;
	for (int i = 0; i < THREADS; i++)
		for (int j = i + 1; j < THREADS; j++)
			if (cpu_of[i] < 0 || cpu_of[i] == cpu_of[j] || tid_of[i] == tid_of[j])
				distinct = 0;
	printf("one node per thread: %s\n", distinct ? "yes" : "no");

	void *r = NULL;
	e = pthread_create(&extra, NULL, nothing, (void *)7L);
	if (e == 0)
		pthread_join(extra, &r);
	printf("thread after join: %s %ld\n", e ? strerror(e) : "ok", (long)r);

	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += 20 * 1000 * 1000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&lock);
	e = pthread_cond_timedwait(&cond, &lock, &until);
	pthread_mutex_unlock(&lock);
	printf("timed wait: %s\n", e == ETIMEDOUT ? "ETIMEDOUT" : strerror(e));
	return 0;
}
