# Helpers shared by every part of Keycast: warnings, sanitizers, and one way
# to declare a library, a test, a fuzzer and a benchmark.

set(KEYCAST_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
    -Wcast-align -Wunused -Woverloaded-virtual -Wformat=2
    -Wimplicit-fallthrough)
if(KEYCAST_WERROR)
  list(APPEND KEYCAST_WARNINGS -Werror)
endif()

if(KEYCAST_SANITIZE)
  add_compile_options(-fsanitize=${KEYCAST_SANITIZE} -fno-omit-frame-pointer
                      -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${KEYCAST_SANITIZE})
endif()

if(KEYCAST_FUZZ)
  # Every object is instrumented for coverage; only fuzz targets link the driver.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# keycast_library(NAME SOURCES ... DEPS ...)
function(keycast_library name)
  cmake_parse_arguments(A "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${A_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/include
                                             ${PROJECT_SOURCE_DIR}/src)
  target_compile_options(${name} PRIVATE ${KEYCAST_WARNINGS})
  target_link_libraries(${name} PUBLIC ${A_DEPS})
endfunction()

# keycast_test(NAME SOURCES ... DEPS ... [LABELS ...])
# Registers a GoogleTest binary with CTest. Tests sit beside the code they test.
function(keycast_test name)
  if(NOT KEYCAST_TESTS)
    return()
  endif()
  cmake_parse_arguments(A "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${A_SOURCES})
  target_compile_options(${name} PRIVATE ${KEYCAST_WARNINGS})
  target_link_libraries(${name} PRIVATE ${A_DEPS} GTest::gtest GTest::gtest_main GTest::gmock)
  add_test(NAME ${name} COMMAND ${name})
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES TIMEOUT ${A_TIMEOUT}
      ENVIRONMENT "KEYCAST_BIN=${PROJECT_BINARY_DIR}/src/cli/keycast;KEYCAST_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
  if(A_LABELS)
    set_tests_properties(${name} PROPERTIES LABELS "${A_LABELS}")
  endif()
endfunction()

# keycast_fuzzer(NAME SOURCE DEPS ...) — a libFuzzer target, built only with
# -DKEYCAST_FUZZ=ON under clang. Seeds live in src/fuzz/corpus/NAME.
function(keycast_fuzzer name)
  if(NOT KEYCAST_FUZZ)
    return()
  endif()
  cmake_parse_arguments(A "" "SOURCE" "DEPS" ${ARGN})
  add_executable(${name} ${A_SOURCE})
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  target_link_libraries(${name} PRIVATE ${A_DEPS})
endfunction()

# keycast_bench(NAME SOURCES ... DEPS ...) — a Google Benchmark binary.
function(keycast_bench name)
  if(NOT KEYCAST_BENCH)
    return()
  endif()
  cmake_parse_arguments(A "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${A_SOURCES})
  target_compile_options(${name} PRIVATE ${KEYCAST_WARNINGS})
  target_link_libraries(${name} PRIVATE ${A_DEPS} benchmark::benchmark)
endfunction()
