// Clang thread-safety annotations (no-ops on other compilers), so lock
// discipline is written in code rather than comments:
//   std::mutex mu_;  int x_ GUARDED_BY(mu_);
#ifndef DIPS_COMMON_THREAD_ANNOTATIONS_H_
#define DIPS_COMMON_THREAD_ANNOTATIONS_H_

#if defined(__clang__)
#define DIPS_THREAD_ANNOTATION_(x) __attribute__((x))
#else
#define DIPS_THREAD_ANNOTATION_(x)
#endif

#define GUARDED_BY(x) DIPS_THREAD_ANNOTATION_(guarded_by(x))
#define PT_GUARDED_BY(x) DIPS_THREAD_ANNOTATION_(pt_guarded_by(x))
#define REQUIRES(...) DIPS_THREAD_ANNOTATION_(requires_capability(__VA_ARGS__))
#define EXCLUDES(...) DIPS_THREAD_ANNOTATION_(locks_excluded(__VA_ARGS__))

#endif  // DIPS_COMMON_THREAD_ANNOTATIONS_H_
