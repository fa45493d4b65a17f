// Replays a fuzz target's corpus outside libFuzzer: every file of the
// folders (or the files) given on the command line goes once through
// LLVMFuzzerTestOneInput, as `fuzzer -runs=0 corpus/` does in a fuzz build.
// Registered by keycast_fuzzer() as the CTest test fuzz_replay.<name>, so a
// seed that crashes, or a format change that makes the target abort, fails
// the plain and sanitizer suites and not only the fuzzing stage.
//
// Fails when no input was found: a missing or empty corpus is an error, not
// a pass.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

// The same bound scripts/fuzz gives libFuzzer (-max_len).
constexpr std::uintmax_t kMaxInputBytes = 1 << 20;

bool RunFile(const std::filesystem::path& p) {
  std::error_code ec;
  if (std::filesystem::file_size(p, ec) > kMaxInputBytes || ec) {
    std::fprintf(stderr, "fuzz_replay: %s is unreadable or larger than %ju bytes\n", p.c_str(),
                 kMaxInputBytes);
    return false;
  }
  std::ifstream in(p, std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) {
    std::fprintf(stderr, "fuzz_replay: cannot read %s\n", p.c_str());
    return false;
  }
  LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
    return 2;
  }
  size_t runs = 0;
  for (int i = 1; i < argc; ++i) {
    std::filesystem::path arg(argv[i]);
    std::error_code ec;
    if (std::filesystem::is_directory(arg, ec)) {
      std::vector<std::filesystem::path> files;
      for (const auto& e : std::filesystem::recursive_directory_iterator(arg))
        if (e.is_regular_file()) files.push_back(e.path());
      std::sort(files.begin(), files.end());
      for (const auto& f : files) {
        if (!RunFile(f)) return 1;
        ++runs;
      }
    } else if (std::filesystem::is_regular_file(arg, ec)) {
      if (!RunFile(arg)) return 1;
      ++runs;
    } else {
      std::fprintf(stderr, "fuzz_replay: %s does not exist\n", argv[i]);
      return 1;
    }
  }
  if (runs == 0) {
    std::fprintf(stderr, "fuzz_replay: no inputs found\n");
    return 1;
  }
  std::printf("fuzz_replay: %zu inputs ran\n", runs);
  return 0;
}
