#include "worker/data/log_reader.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <glog/logging.h>
#include <gtest/gtest.h>

#include "common/feature_key.h"
#include "tests/data/test_files.h"

namespace dips {
namespace {

using testing_files::GzipBytes;
using testing_files::ScratchDir;
using testing_files::WriteGzip;
using testing_files::WritePlain;

constexpr char kSep = '\x02';
const std::string kV1NoShop =
    "#dips-v1\tlabel\tuser\titem\tcategory\titem_history\tcategory_history\n";
const std::string kV1Shop =
    "#dips-v1\tlabel\tuser\titem\tcategory\tshop\titem_history\tcategory_history\t"
    "shop_history\tprofile:age\n";

// A good DIEN line whose user id is `user` and history has `len` behaviours.
std::string DienLine(const std::string& user, int len = 2) {
  std::string items, cats;
  for (int i = 0; i < len; ++i) {
    items += (i > 0 ? std::string(1, kSep) : "") + "i" + std::to_string(i);
    cats += (i > 0 ? std::string(1, kSep) : "") + "c" + std::to_string(i % 3);
  }
  return "1\t" + user + "\titem\tcat\t" + items + "\t" + cats + "\n";
}

ReaderOptions Tolerant() {
  ReaderOptions o;
  o.max_bad_ratio = 1.0;  // count and skip, never abort
  return o;
}

std::unique_ptr<LogReader> OpenOrDie(const std::vector<std::string>& paths,
                                     const ReaderOptions& options) {
  auto reader = LogReader::Open(paths, options);
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  return reader.ok() ? std::move(reader).value() : nullptr;
}

// Reads to the end; returns the user keys of the samples and the final status.
std::vector<uint64_t> ReadUsers(LogReader* reader, Status* end_status = nullptr) {
  std::vector<uint64_t> users;
  Sample s;
  for (;;) {
    StatusOr<bool> got = reader->Next(&s);
    if (!got.ok() || !*got) {
      if (end_status != nullptr) *end_status = got.ok() ? Status::OK() : got.status();
      if (end_status == nullptr) {
        EXPECT_TRUE(got.ok()) << got.status().ToString();
      }
      return users;
    }
    users.push_back(s.user_key);
  }
}

std::vector<uint64_t> UserKeys(const std::vector<std::string>& ids) {
  std::vector<uint64_t> keys;
  for (const auto& id : ids) keys.push_back(FeatureKey(kUserField, id));
  return keys;
}

// Counts the WARNING messages that contain `needle`.
class CountingSink : public google::LogSink {
 public:
  explicit CountingSink(std::string needle) : needle_(std::move(needle)) {
    google::AddLogSink(this);
  }
  ~CountingSink() override { google::RemoveLogSink(this); }
  void send(google::LogSeverity severity, const char*, const char*, int, const struct ::tm*,
            const char* message, size_t message_len) override {
    if (severity == google::GLOG_WARNING &&
        std::string(message, message_len).find(needle_) != std::string::npos) {
      ++count;
    }
  }
  int count = 0;

 private:
  std::string needle_;
};

TEST(LogReaderTest, EachMalformedLineIsCountedUnderItsReasonAndSkipped) {
  ScratchDir dir;
  const std::vector<std::pair<std::string, LineError>> bad = {
      {"1\tu\ti\tc\ti1\n", LineError::kColumnCount},
      {"7\tu\ti\tc\ti1\tc1\n", LineError::kBadLabel},
      {"one\tu\ti\tc\ti1\tc1\n", LineError::kBadLabel},
      {"1\tu\ti\tc\ti1\x02i2\tc1\n", LineError::kHistoryMismatch},
      {"1\t\ti\tc\ti1\tc1\n", LineError::kEmptyId},
      {"1\tu\ti\tc\ti1\x02\tc1\x02" "c2\n", LineError::kEmptyId},
      {"1\tu\ti\tc\t" + std::string(300, 'x') + "\tc1\n", LineError::kTooLong},
      {"1\tu\ti\tc\ti1\tc1\r\n", LineError::kCarriageReturn},
      {"1\tu\xfe\ti\tc\ti1\tc1\n", LineError::kInvalidUtf8},
      {std::string("1\tu\0\ti\tc\ti1\tc1\n", 15), LineError::kNulByte},
  };
  std::string content;
  std::vector<std::string> good_users;
  for (size_t i = 0; i < bad.size(); ++i) {
    content += bad[i].first;
    good_users.push_back("g" + std::to_string(i));  // the next good line must still be read
    content += DienLine(good_users.back());
  }
  ReaderOptions options = Tolerant();
  options.max_line_bytes = 200;
  for (bool gzip : {false, true}) {
    const std::string path = dir.File(gzip ? "bad.gz" : "bad.txt");
    gzip ? WriteGzip(path, content) : WritePlain(path, content);
    auto reader = OpenOrDie({path}, options);
    ASSERT_NE(reader, nullptr);
    EXPECT_EQ(ReadUsers(reader.get()), UserKeys(good_users));
    const ReaderStats& st = reader->stats();
    EXPECT_EQ(st.lines, static_cast<int64_t>(2 * bad.size()));
    EXPECT_EQ(st.samples, static_cast<int64_t>(good_users.size()));
    EXPECT_EQ(st.bad_lines, static_cast<int64_t>(bad.size()));
    for (int r = 1; r < kNumLineErrors; ++r) {
      const auto want = std::count_if(bad.begin(), bad.end(), [r](const auto& b) {
        return static_cast<int>(b.second) == r;
      });
      EXPECT_EQ(st.bad_by_reason[r], want) << LineErrorName(static_cast<LineError>(r));
    }
  }
}

TEST(LogReaderTest, MalformedLineWarningsAreThrottled) {
  ScratchDir dir;
  std::string content;
  const int kBad = 2500;
  for (int i = 0; i < kBad; ++i) content += "garbage\n" + DienLine("u");
  auto reader = OpenOrDie({WritePlain(dir.File("many_bad.txt"), content)}, Tolerant());
  CountingSink per_line("malformed line skipped");
  CountingSink summary("malformed and skipped");
  EXPECT_EQ(ReadUsers(reader.get()).size(), static_cast<size_t>(kBad));
  EXPECT_EQ(reader->stats().bad_lines, kBad);
  // The first 20, then the 1000th and 2000th.
  EXPECT_EQ(per_line.count, 20 + kBad / 1000);
  EXPECT_EQ(summary.count, 1);
}

TEST(LogReaderTest, V1GzipWithShopAndExtraFields) {
  ScratchDir dir;
  const std::string path = WriteGzip(
      dir.File("v1.gz"), kV1Shop + "0\tu1\ti1\tc1\ts1\ti7\x02i8\tc7\x02" "c8\ts7\x02s8\t25-34\n" +
                             "1\tu2\ti2\tc2\ts2\t\t\t\t\n");
  auto reader = OpenOrDie({path}, ReaderOptions());
  ASSERT_NE(reader, nullptr);
  EXPECT_TRUE(reader->schema().has_shop);
  EXPECT_EQ(reader->schema().extra_fields, std::vector<std::string>{"profile:age"});
  Sample s;
  ASSERT_TRUE(*reader->Next(&s));
  EXPECT_EQ(s.label, 0.0f);
  EXPECT_EQ(s.shop_key, FeatureKey(kShopField, "s1"));
  EXPECT_EQ(s.shop_history,
            (std::vector<uint64_t>{FeatureKey(kShopField, "s7"), FeatureKey(kShopField, "s8")}));
  EXPECT_EQ(s.extra_keys, std::vector<uint64_t>{FeatureKey("profile:age", "25-34")});
  // Second line: empty histories (valid) and an empty profile value.
  ASSERT_TRUE(*reader->Next(&s));
  EXPECT_EQ(s.user_key, FeatureKey(kUserField, "u2"));
  EXPECT_EQ(s.history_length(), 0);
  EXPECT_TRUE(s.shop_history.empty());
  EXPECT_EQ(s.extra_keys, std::vector<uint64_t>{FeatureKey("profile:age", "")});
  EXPECT_FALSE(*reader->Next(&s));
  EXPECT_EQ(reader->stats().samples, 2);
  EXPECT_EQ(reader->position(), (ReaderPosition{0, 3}));  // header + 2 lines
}

TEST(LogReaderTest, HistoryIsCutToTheMostRecentMaxHistory) {
  ScratchDir dir;
  const std::string path = WritePlain(dir.File("long"), DienLine("u", 9));
  ReaderOptions options;
  options.max_history = 4;
  auto reader = OpenOrDie({path}, options);
  Sample s;
  ASSERT_TRUE(*reader->Next(&s));
  std::vector<uint64_t> want;
  for (int i = 5; i < 9; ++i) want.push_back(FeatureKey(kItemField, "i" + std::to_string(i)));
  EXPECT_EQ(s.item_history, want);
}

TEST(LogReaderTest, TruncatedGzipDeliversCompleteLinesThenCorruption) {
  ScratchDir dir;
  std::string content;
  for (int i = 0; i < 5000; ++i) content += DienLine("u" + std::to_string(i), 5);
  const std::string gz = GzipBytes(content);
  const std::string path = WritePlain(dir.File("cut.gz"), gz.substr(0, gz.size() / 2));
  auto reader = OpenOrDie({path}, ReaderOptions());
  Status end;
  std::vector<uint64_t> users = ReadUsers(reader.get(), &end);
  EXPECT_EQ(end.code(), StatusCode::kCorruption);
  EXPECT_NE(end.message().find(path), std::string::npos);
  ASSERT_GT(users.size(), 0u);
  ASSERT_LT(users.size(), 5000u);
  for (size_t i = 0; i < users.size(); ++i) {
    ASSERT_EQ(users[i], FeatureKey(kUserField, "u" + std::to_string(i)));
  }
  EXPECT_EQ(reader->stats().bad_lines, 0);  // the partial line is not a bad line
  Sample s;
  EXPECT_EQ(reader->Next(&s).status().code(), StatusCode::kCorruption);  // sticky
}

// Three files (plain DIEN, gzip DIEN, v1 header without shop: one schema).
std::vector<std::string> ThreeFiles(const ScratchDir& dir, std::vector<std::string>* users) {
  std::string a, b, c = kV1NoShop;
  for (int i = 0; i < 100; ++i) {
    const std::string u = "u" + std::to_string(i);
    users->push_back(u);
    (i < 37 ? a : i < 80 ? b : c) += DienLine(u);
  }
  return {WritePlain(dir.File("a.txt"), a), WriteGzip(dir.File("b.gz"), b),
          WritePlain(dir.File("c.txt"), c)};
}

TEST(LogReaderTest, PartsCoverEveryLineExactlyOnce) {
  ScratchDir dir;
  std::vector<std::string> users;
  const std::vector<std::string> paths = ThreeFiles(dir, &users);
  const int kParts = 3;
  std::multiset<uint64_t> seen;
  for (int p = 0; p < kParts; ++p) {
    ReaderOptions options;
    options.part_index = p;
    options.num_parts = kParts;
    auto reader = OpenOrDie(paths, options);
    std::vector<uint64_t> part = ReadUsers(reader.get());
    // Round robin within each file: a file of m lines gives each part
    // floor(m/3) or ceil(m/3), so a part differs from 100/3 by at most one
    // per file.
    EXPECT_NEAR(static_cast<double>(part.size()), 100.0 / kParts, 3.0) << p;
    EXPECT_EQ(reader->stats().lines, static_cast<int64_t>(part.size()));
    seen.insert(part.begin(), part.end());
  }
  const std::vector<uint64_t> all = UserKeys(users);
  EXPECT_EQ(seen, std::multiset<uint64_t>(all.begin(), all.end()));
}

TEST(LogReaderTest, RewindReplaysTheSameSamplesWithFreshStats) {
  ScratchDir dir;
  std::vector<std::string> users;
  auto reader = OpenOrDie(ThreeFiles(dir, &users), ReaderOptions());
  const std::vector<uint64_t> first = ReadUsers(reader.get());
  EXPECT_EQ(first, UserKeys(users));
  ASSERT_TRUE(reader->Rewind().ok());
  EXPECT_EQ(reader->stats().lines, 0);
  EXPECT_EQ(ReadUsers(reader.get()), first);
  EXPECT_EQ(reader->stats().samples, 100);
}

// Reads to the end, recording Progress() after each sample (index k: after
// k + 1 samples); checks it never falls and is exactly 1.0 at the end.
std::vector<double> ReadProgress(LogReader* reader) {
  std::vector<double> progress;
  double last = reader->Progress();
  Sample s;
  for (;;) {
    StatusOr<bool> got = reader->Next(&s);
    EXPECT_TRUE(got.ok()) << got.status().ToString();
    const double p = reader->Progress();
    EXPECT_GE(p, last) << "after sample " << progress.size();
    last = p;
    if (!got.ok() || !*got) break;
    EXPECT_LE(p, 1.0);
    progress.push_back(p);
  }
  EXPECT_EQ(reader->Progress(), 1.0);
  return progress;
}

TEST(LogReaderTest, ProgressIsHalfAfterHalfOfAPlainFile) {
  ScratchDir dir;
  // 1000 data lines of one length ("u" + 4 digits), no header: after k
  // samples exactly k / 1000 of the bytes are consumed. Allow one line's
  // share of the file.
  const int kLines = 1000;
  std::string content;
  for (int i = 0; i < kLines; ++i) content += DienLine("u" + std::to_string(1000 + i));
  const double one_line = static_cast<double>(DienLine("u1000").size()) / content.size();
  auto reader = OpenOrDie({WritePlain(dir.File("a.txt"), content)}, ReaderOptions());
  const std::vector<double> p = ReadProgress(reader.get());
  ASSERT_EQ(p.size(), static_cast<size_t>(kLines));
  EXPECT_NEAR(p[kLines / 2 - 1], 0.5, one_line);
}

TEST(LogReaderTest, ProgressWeighsFilesBySizeAndRestartsOnRewind) {
  ScratchDir dir;
  std::vector<std::string> users;
  const std::vector<std::string> paths = ThreeFiles(dir, &users);  // 37, 43, 20 lines
  std::vector<double> sizes;
  for (const auto& path : paths) sizes.push_back(std::filesystem::file_size(path));
  const double total = sizes[0] + sizes[1] + sizes[2];
  auto reader = OpenOrDie(paths, ReaderOptions());
  const double at_open = reader->Progress();
  EXPECT_GT(at_open, 0.0);  // the first line was read to check the schema
  EXPECT_LT(at_open, sizes[0] / total);
  const std::vector<double> p = ReadProgress(reader.get());
  ASSERT_EQ(p.size(), 100u);
  // The last line of a plain file ends it: the file counts in full, exactly.
  EXPECT_DOUBLE_EQ(p[36], sizes[0] / total);
  // A line of the next file adds some of that file on top of all earlier ones.
  EXPECT_GT(p[37], sizes[0] / total);
  EXPECT_LE(p[79], (sizes[0] + sizes[1]) / total);
  EXPECT_GT(p[80], (sizes[0] + sizes[1]) / total);  // c.txt's header was read too
  EXPECT_EQ(p[99], 1.0);

  // A new pass starts over from where Open stood.
  ASSERT_TRUE(reader->Rewind().ok());
  EXPECT_EQ(reader->Progress(), at_open);
  EXPECT_EQ(ReadProgress(reader.get()), p);
}

TEST(LogReaderTest, ProgressIsSafeToReadFromAnotherThread) {
  ScratchDir dir;
  std::string content;
  for (int i = 0; i < 20000; ++i) content += DienLine("u" + std::to_string(i));
  auto reader = OpenOrDie({WriteGzip(dir.File("a.gz"), content)}, ReaderOptions());
  // A watcher polls while this thread reads (what the trainer does with the
  // batch stream's producer); it must see a non-decreasing fraction.
  // Reading starts only after the watcher's first poll, so the two overlap
  // even when a loaded machine schedules the watcher late.
  std::atomic<bool> stop{false}, watching{false};
  std::vector<double> seen;
  std::thread watcher([&] {
    do {
      seen.push_back(reader->Progress());
      watching.store(true);
    } while (!stop.load());
  });
  while (!watching.load()) std::this_thread::yield();
  EXPECT_EQ(ReadUsers(reader.get()).size(), 20000u);
  stop.store(true);
  watcher.join();
  ASSERT_FALSE(seen.empty());
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_LE(seen.back(), 1.0);
  EXPECT_EQ(reader->Progress(), 1.0);
}

TEST(LogReaderTest, SeekResumesWhereAPositionWasTaken) {
  ScratchDir dir;
  std::vector<std::string> users;
  const std::vector<std::string> paths = ThreeFiles(dir, &users);
  for (int parts : {1, 3}) {
    ReaderOptions options;
    options.num_parts = parts;
    options.part_index = parts - 1;
    auto reader = OpenOrDie(paths, options);
    const std::vector<uint64_t> all = ReadUsers(reader.get());
    // Resume after every prefix length, including across file boundaries.
    for (size_t k = 0; k <= all.size(); ++k) {
      ASSERT_TRUE(reader->Rewind().ok());
      Sample s;
      for (size_t i = 0; i < k; ++i) ASSERT_TRUE(*reader->Next(&s));
      const ReaderPosition pos = reader->position();
      auto resumed = OpenOrDie(paths, options);
      ASSERT_TRUE(resumed->Seek(pos).ok());
      EXPECT_EQ(ReadUsers(resumed.get()),
                std::vector<uint64_t>(all.begin() + static_cast<long>(k), all.end()))
          << "parts " << parts << " k " << k;
    }
  }
  auto reader = OpenOrDie(paths, ReaderOptions());
  EXPECT_EQ(reader->Seek({0, 38}).code(), StatusCode::kInvalidArgument);  // a.txt has 37
  EXPECT_EQ(reader->Seek({3, 0}).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(reader->Seek({0, 37}).ok());  // end of a.txt: continues with b.gz
  EXPECT_EQ(ReadUsers(reader.get()).size(), 100u - 37u);
}

TEST(LogReaderTest, SchemaMismatchAcrossFilesNamesTheFile) {
  ScratchDir dir;
  const std::string a = WritePlain(dir.File("dien.txt"), DienLine("u"));
  const std::string b = WritePlain(dir.File("shop.txt"), kV1Shop);
  auto reader = LogReader::Open({a, b}, ReaderOptions());
  EXPECT_EQ(reader.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(reader.status().message().find(b), std::string::npos) << reader.status().message();
}

TEST(LogReaderTest, UnsupportedVersionAndMissingFileFailOpen) {
  ScratchDir dir;
  const std::string v2 = WritePlain(dir.File("v2.txt"), "#dips-v2\tlabel\n");
  auto r1 = LogReader::Open({v2}, ReaderOptions());
  EXPECT_EQ(r1.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r1.status().message().find(v2), std::string::npos);
  auto r2 = LogReader::Open({dir.File("absent")}, ReaderOptions());
  EXPECT_EQ(r2.status().code(), StatusCode::kNotFound);
  ReaderOptions bad_part;
  bad_part.part_index = 3;
  bad_part.num_parts = 3;
  EXPECT_EQ(LogReader::Open({v2}, bad_part).status().code(), StatusCode::kInvalidArgument);
}

TEST(LogReaderTest, HeaderOnlyAndEmptyFilesHoldNoSamples) {
  ScratchDir dir;
  const std::string header_only = WritePlain(dir.File("h.txt"), kV1Shop);
  const std::string empty = WritePlain(dir.File("e.txt"), "");
  auto reader = OpenOrDie({empty, header_only, empty}, ReaderOptions());
  EXPECT_TRUE(reader->schema().has_shop);
  EXPECT_TRUE(ReadUsers(reader.get()).empty());
  EXPECT_EQ(reader->stats().lines, 0);
}

TEST(LogReaderTest, AbortsPastTheBadRatioNamingFileAndLine) {
  ScratchDir dir;
  // Every 100th line is malformed: 1% against a 0.1% limit. The ratio is
  // first checked at line 1000 (min_lines_for_ratio), where 10 of 1000 are
  // bad, so the reader stops there having delivered the 990 good lines.
  std::string content;
  for (int i = 1; i <= 2000; ++i) content += i % 100 == 0 ? "garbage\n" : DienLine("u");
  const std::string path = WritePlain(dir.File("noisy.txt"), content);
  auto reader = OpenOrDie({path}, ReaderOptions());
  Status end;
  EXPECT_EQ(ReadUsers(reader.get(), &end).size(), 990u);
  EXPECT_EQ(end.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(end.message().find(path + ":1000"), std::string::npos) << end.message();
  EXPECT_NE(end.message().find("--max_bad_ratio"), std::string::npos);
  EXPECT_NE(end.message().find("10 of 1000"), std::string::npos);
}

TEST(LogReaderTest, RatioIsCheckedAtTheEndOfShortInputs) {
  ScratchDir dir;
  // 1 bad line in 10: below min_lines_for_ratio, so only the end-of-input
  // check catches it, after all 9 good samples were delivered.
  std::string content = "garbage\n";
  for (int i = 0; i < 9; ++i) content += DienLine("u");
  auto reader = OpenOrDie({WritePlain(dir.File("short.txt"), content)}, ReaderOptions());
  Status end;
  EXPECT_EQ(ReadUsers(reader.get(), &end).size(), 9u);
  EXPECT_EQ(end.code(), StatusCode::kResourceExhausted);

  // 1 bad line in 2000 is 0.05%, within the default 0.1%.
  std::string big = "garbage\n";
  for (int i = 0; i < 1999; ++i) big += DienLine("u");
  auto ok_reader = OpenOrDie({WritePlain(dir.File("big.txt"), big)}, ReaderOptions());
  EXPECT_EQ(ReadUsers(ok_reader.get(), &end).size(), 1999u);
  EXPECT_TRUE(end.ok()) << end.ToString();
  EXPECT_EQ(ok_reader->stats().bad_lines, 1);
}

// Reading ahead (LogReader::ReadAhead before every Next, `chunk` lines on
// `threads` threads) must deliver what plain Next calls deliver: the same
// samples, statistics, errors and positions.
struct ReadResult {
  std::vector<uint64_t> users;
  std::vector<ReaderPosition> positions;  // position() after each sample
  Status end;
  ReaderStats stats;
};

ReadResult ReadAll(LogReader* reader, size_t chunk, int threads) {
  ReadResult r;
  Sample s;
  for (;;) {
    if (chunk > 0) reader->ReadAhead(chunk, threads);
    StatusOr<bool> got = reader->Next(&s);
    if (!got.ok() || !*got) {
      r.end = got.ok() ? Status::OK() : got.status();
      break;
    }
    r.users.push_back(s.user_key);
    r.positions.push_back(reader->position());
  }
  r.stats = reader->stats();
  return r;
}

void ExpectSameReads(const std::vector<std::string>& paths, const ReaderOptions& options) {
  const ReadResult plain = ReadAll(OpenOrDie(paths, options).get(), 0, 1);
  for (size_t chunk : {1u, 3u, 64u, 1000u}) {
    for (int threads : {1, 3}) {
      const ReadResult ahead = ReadAll(OpenOrDie(paths, options).get(), chunk, threads);
      const std::string where = "chunk " + std::to_string(chunk) + " threads " +
                                std::to_string(threads);
      EXPECT_EQ(ahead.users, plain.users) << where;
      EXPECT_EQ(ahead.positions, plain.positions) << where;
      EXPECT_EQ(ahead.end.code(), plain.end.code()) << where;
      EXPECT_EQ(ahead.end.message(), plain.end.message()) << where;
      EXPECT_EQ(ahead.stats.lines, plain.stats.lines) << where;
      EXPECT_EQ(ahead.stats.samples, plain.stats.samples) << where;
      EXPECT_EQ(ahead.stats.bad_lines, plain.stats.bad_lines) << where;
      EXPECT_EQ(ahead.stats.bad_by_reason, plain.stats.bad_by_reason) << where;
    }
  }
}

TEST(LogReaderTest, ReadingAheadDeliversWhatNextDelivers) {
  ScratchDir dir;
  // Malformed lines of several kinds, one too long, between good ones.
  std::string mixed;
  for (int i = 0; i < 300; ++i) {
    mixed += DienLine("m" + std::to_string(i), 1 + i % 7);
    if (i % 9 == 0) mixed += "1\tu\ti\tc\ti1\n";
    if (i % 13 == 0) mixed += "1\tu\ti\tc\t" + std::string(300, 'x') + "\tc1\n";
  }
  ReaderOptions tolerant = Tolerant();
  tolerant.max_line_bytes = 200;
  ExpectSameReads({WritePlain(dir.File("mixed.txt"), mixed)}, tolerant);
  ExpectSameReads({WriteGzip(dir.File("mixed.gz"), mixed)}, tolerant);

  // Across files, for every part of three.
  std::vector<std::string> users;
  const std::vector<std::string> three = ThreeFiles(dir, &users);
  for (int part = 0; part < 3; ++part) {
    ReaderOptions options;
    options.num_parts = 3;
    options.part_index = part;
    ExpectSameReads(three, options);
  }

  // The abort past the bad-line ratio, at the same line with the same message.
  std::string noisy;
  for (int i = 1; i <= 2000; ++i) noisy += i % 100 == 0 ? "garbage\n" : DienLine("u");
  ExpectSameReads({WritePlain(dir.File("noisy.txt"), noisy)}, ReaderOptions());

  // A truncated gzip: the complete lines, then Corruption.
  std::string content;
  for (int i = 0; i < 3000; ++i) content += DienLine("u" + std::to_string(i), 5);
  const std::string gz = GzipBytes(content);
  ExpectSameReads({WritePlain(dir.File("cut.gz"), gz.substr(0, gz.size() / 2))},
                  ReaderOptions());
}

TEST(LogReaderTest, RewindDropsWhatWasReadAhead) {
  ScratchDir dir;
  std::vector<std::string> users;
  auto reader = OpenOrDie(ThreeFiles(dir, &users), ReaderOptions());
  reader->ReadAhead(50, 2);
  Sample s;
  ASSERT_TRUE(*reader->Next(&s));
  ASSERT_TRUE(reader->Rewind().ok());
  EXPECT_EQ(ReadUsers(reader.get()), UserKeys(users));
  EXPECT_EQ(reader->stats().lines, 100);
}

}  // namespace
}  // namespace dips
