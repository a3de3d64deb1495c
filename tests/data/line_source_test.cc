#include "worker/data/line_source.h"

#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/data/test_files.h"

namespace dips {
namespace {

using testing_files::GzipBytes;
using testing_files::ScratchDir;
using testing_files::WriteGzip;
using testing_files::WritePlain;

struct ReadResult {
  std::vector<std::string> lines;
  std::vector<bool> too_long;
  Status status;  // OK if the input ended cleanly
};

ReadResult ReadAll(const std::string& path, size_t max_line_bytes = 1 << 20) {
  ReadResult r;
  LineSourceOptions options;
  options.max_line_bytes = max_line_bytes;
  auto source = LineSource::Open(path, options);
  if (!source.ok()) {
    r.status = source.status();
    return r;
  }
  std::string line;
  bool too_long = false;
  for (;;) {
    StatusOr<bool> got = (*source)->Next(&line, &too_long);
    if (!got.ok()) {
      r.status = got.status();
      return r;
    }
    if (!*got) return r;
    r.lines.push_back(line);
    r.too_long.push_back(too_long);
    EXPECT_EQ((*source)->line_number(), static_cast<int64_t>(r.lines.size()));
  }
}

// Lines of varying length (0 to ~300 bytes), enough to span several of the
// source's internal read buffers.
std::vector<std::string> ManyLines(int n) {
  std::vector<std::string> lines;
  for (int i = 0; i < n; ++i) {
    lines.push_back("line-" + std::to_string(i) + std::string((i * 37) % 300, 'a' + i % 26));
  }
  return lines;
}

std::string Join(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  return s;
}

TEST(LineSourceTest, PlainLinesIncludingEmptyAndUnterminatedLast) {
  ScratchDir dir;
  ReadResult r = ReadAll(WritePlain(dir.File("a.txt"), "a\nbb\n\nlast"));
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.lines, (std::vector<std::string>{"a", "bb", "", "last"}));
}

TEST(LineSourceTest, EmptyFileHasNoLines) {
  ScratchDir dir;
  ReadResult r = ReadAll(WritePlain(dir.File("empty"), ""));
  EXPECT_TRUE(r.status.ok());
  EXPECT_TRUE(r.lines.empty());
}

TEST(LineSourceTest, GzipAndPlainGiveTheSameLinesAcrossBufferBoundaries) {
  ScratchDir dir;
  const std::vector<std::string> lines = ManyLines(20000);  // ~3 MB
  ReadResult plain = ReadAll(WritePlain(dir.File("p.txt"), Join(lines)));
  ReadResult gz = ReadAll(WriteGzip(dir.File("g.gz"), Join(lines)));
  ASSERT_TRUE(plain.status.ok());
  ASSERT_TRUE(gz.status.ok()) << gz.status.ToString();
  EXPECT_EQ(plain.lines, lines);
  EXPECT_EQ(gz.lines, lines);
}

TEST(LineSourceTest, FormatIsDetectedByMagicNotName) {
  ScratchDir dir;
  ReadResult gz_named_txt = ReadAll(WriteGzip(dir.File("really_gzip.txt"), "x\ny\n"));
  ReadResult txt_named_gz = ReadAll(WritePlain(dir.File("really_plain.gz"), "x\ny\n"));
  EXPECT_EQ(gz_named_txt.lines, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(txt_named_gz.lines, (std::vector<std::string>{"x", "y"}));
}

TEST(LineSourceTest, ConcatenatedGzipMembersAreOneStream) {
  ScratchDir dir;
  ReadResult r =
      ReadAll(WritePlain(dir.File("cat.gz"), GzipBytes("a\nb\n") + GzipBytes("c\nd")));
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.lines, (std::vector<std::string>{"a", "b", "c", "d"}));
}

TEST(LineSourceTest, MissingTrailerIsCorruptionAndHoldsBackThePartialLine) {
  ScratchDir dir;
  // All deflate data is present (the 8-byte CRC/length trailer is cut), so
  // the whole text inflates; the unterminated last line must still not be
  // delivered, because the stream did not end cleanly.
  std::string gz = GzipBytes("full\nlines\npartial");
  gz.resize(gz.size() - 8);
  const std::string path = WritePlain(dir.File("cut.gz"), gz);
  ReadResult r = ReadAll(path);
  EXPECT_EQ(r.lines, (std::vector<std::string>{"full", "lines"}));
  EXPECT_EQ(r.status.code(), StatusCode::kCorruption);
  EXPECT_NE(r.status.message().find(path), std::string::npos) << r.status.message();
}

TEST(LineSourceTest, TruncatedGzipDeliversEveryCompleteLineThenCorruption) {
  ScratchDir dir;
  const std::vector<std::string> lines = ManyLines(20000);
  const std::string gz = GzipBytes(Join(lines));
  // Like `head -c`: cut at several points inside the stream.
  for (double fraction : {0.1, 0.5, 0.97}) {
    const size_t cut = static_cast<size_t>(gz.size() * fraction);
    const std::string path = WritePlain(dir.File("head.gz"), gz.substr(0, cut));
    ReadResult r = ReadAll(path);
    EXPECT_EQ(r.status.code(), StatusCode::kCorruption) << fraction;
    EXPECT_NE(r.status.message().find(path), std::string::npos);
    ASSERT_LT(r.lines.size(), lines.size());
    EXPECT_GT(r.lines.size(), 0u);
    // Every delivered line is complete and in order: a prefix of the input.
    for (size_t i = 0; i < r.lines.size(); ++i) ASSERT_EQ(r.lines[i], lines[i]) << i;
  }
}

TEST(LineSourceTest, FlippedByteIsCorruption) {
  ScratchDir dir;
  std::string gz = GzipBytes(Join(ManyLines(2000)));
  gz[gz.size() / 2] ^= 0x55;
  ReadResult r = ReadAll(WritePlain(dir.File("flip.gz"), gz));
  EXPECT_EQ(r.status.code(), StatusCode::kCorruption) << r.status.ToString();
}

TEST(LineSourceTest, OverlongLineIsCutAndTheRestSkipped) {
  ScratchDir dir;
  // The long line spans several internal read buffers, so the skipping
  // must carry across reads; the next line must come out intact.
  const std::string content = "short\n" + std::string(700000, 'x') + "\nafter\n" +
                              std::string(12, 'y');
  for (bool gzip : {false, true}) {
    const std::string path = dir.File(gzip ? "long.gz" : "long.txt");
    if (gzip) {
      WriteGzip(path, content);
    } else {
      WritePlain(path, content);
    }
    ReadResult r = ReadAll(path, /*max_line_bytes=*/10);
    ASSERT_TRUE(r.status.ok()) << r.status.ToString();
    EXPECT_EQ(r.lines, (std::vector<std::string>{"short", std::string(10, 'x'), "after",
                                                 std::string(10, 'y')}));
    EXPECT_EQ(r.too_long, (std::vector<bool>{false, true, false, true}));
  }
}

// Reads to the end, recording Progress() before the first line and after
// each line; checks it stays in [0, 1], never falls and is exactly 1.0 once
// Next returned false. Returns the values (index k: after k lines).
std::vector<double> ReadProgress(const std::string& path) {
  std::vector<double> progress;
  auto source = LineSource::Open(path, LineSourceOptions());
  EXPECT_TRUE(source.ok()) << source.status().ToString();
  if (!source.ok()) return progress;
  progress.push_back((*source)->Progress());
  std::string line;
  bool too_long = false;
  for (;;) {
    StatusOr<bool> got = (*source)->Next(&line, &too_long);
    EXPECT_TRUE(got.ok()) << got.status().ToString();
    if (!got.ok() || !*got) break;
    const double p = (*source)->Progress();
    EXPECT_GE(p, progress.back()) << "after line " << progress.size();
    EXPECT_LE(p, 1.0);
    progress.push_back(p);
  }
  EXPECT_EQ((*source)->Progress(), 1.0);
  return progress;
}

// `n` lines of `width` pseudo-random hex digits: the same length each, and
// incompressible to the same degree everywhere, so compressed offsets grow
// in step with uncompressed ones.
std::string UniformLines(int n, int width) {
  std::string s;
  uint64_t x = 12345;
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < width; ++j) {
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      s += "0123456789abcdef"[x >> 60];
    }
    s += '\n';
  }
  return s;
}

TEST(LineSourceTest, PlainProgressIsTheByteOffsetOfTheLinesRead) {
  ScratchDir dir;
  // 40000 lines of 20 bytes: 800 kB, several of the source's read buffers.
  const int kLines = 40000;
  const int kWidth = 19;
  const std::string content = UniformLines(kLines, kWidth);
  const std::vector<double> p = ReadProgress(WritePlain(dir.File("p.txt"), content));
  ASSERT_EQ(p.size(), static_cast<size_t>(kLines) + 1);
  EXPECT_EQ(p[0], 0.0);
  // After k lines exactly k * (kWidth + 1) bytes are consumed; allow one
  // line's share of the file, the granularity a caller can rely on.
  const double one_line = static_cast<double>(kWidth + 1) / content.size();
  EXPECT_NEAR(p[kLines / 2], 0.5, one_line);
  for (int k : {1, kLines / 3, kLines - 1}) {
    EXPECT_NEAR(p[k], static_cast<double>(k) / kLines, one_line) << k;
  }
  EXPECT_EQ(p.back(), 1.0);  // the last line ends the file
}

TEST(LineSourceTest, GzipProgressCountsCompressedBytes) {
  ScratchDir dir;
  const int kLines = 100000;
  const std::string content = UniformLines(kLines, 39);  // 4 MB, ~2 MB compressed
  const std::vector<double> p = ReadProgress(WriteGzip(dir.File("g.gz"), content));
  ASSERT_EQ(p.size(), static_cast<size_t>(kLines) + 1);
  // The source inflates into a 256 KiB buffer (line_source.cc) and knows the
  // compressed offsets of that buffer's two ends; inside it the position is
  // interpolated. The true compressed offset of any line lies between the
  // same two ends, so the error is below one buffer's share of the
  // compressed file, which for uniformly compressible text is its share of
  // the uncompressed text.
  const double one_buffer = static_cast<double>(256 << 10) / content.size();
  EXPECT_NEAR(p[kLines / 2], 0.5, one_buffer);
  EXPECT_NEAR(p[kLines / 4], 0.25, one_buffer);
  EXPECT_EQ(p.back(), 1.0);
}

TEST(LineSourceTest, ProgressCarriesAcrossConcatenatedGzipMembers) {
  ScratchDir dir;
  // zlib's own total_in restarts at every member; progress must not.
  const int kLines = 20000;
  const std::string first = GzipBytes(UniformLines(kLines, 29));
  const std::string second = GzipBytes(UniformLines(kLines, 29));
  const std::vector<double> p =
      ReadProgress(WritePlain(dir.File("cat.gz"), first + second));
  ASSERT_EQ(p.size(), 2 * static_cast<size_t>(kLines) + 1);
  // After the first member's last line, its bytes are consumed; the 8-byte
  // trailer and inflate's bit buffer (a few bytes) may be counted with the
  // next read instead.
  const double total = static_cast<double>(first.size() + second.size());
  EXPECT_NEAR(p[kLines], first.size() / total, 32.0 / total);
  EXPECT_EQ(p.back(), 1.0);
}

TEST(LineSourceTest, ProgressOfAnEmptyFileIsZeroThenOne) {
  ScratchDir dir;
  const std::vector<double> p = ReadProgress(WritePlain(dir.File("empty"), ""));
  EXPECT_EQ(p, std::vector<double>{0.0});  // then 1.0 at the end (checked inside)
}

TEST(LineSourceTest, MissingFileIsNotFoundNamingIt) {
  ScratchDir dir;
  const std::string path = dir.File("nope.txt");
  ReadResult r = ReadAll(path);
  EXPECT_EQ(r.status.code(), StatusCode::kNotFound);
  EXPECT_NE(r.status.message().find(path), std::string::npos);
}

}  // namespace
}  // namespace dips
