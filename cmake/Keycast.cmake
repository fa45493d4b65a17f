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

include(GoogleTest)

# keycast_test(NAME SOURCES ... DEPS ... [LABELS ...] [TIMEOUT seconds])
# A GoogleTest binary beside the code it tests. Each test case is its own
# CTest test, named NAME.Suite.Case (gtest_discover_tests), so a failure
# names its case and `ctest -R NAME` still selects the binary's cases. The
# cases of one binary hold one RESOURCE_LOCK, so they run one at a time as
# they did in one process (some share fixed ports, groups or files), while
# different binaries run in parallel. Tests labelled `threaded` are also
# built by the target `threaded_tests` (the TSan stage builds only those).
function(keycast_test name)
  if(NOT KEYCAST_TESTS)
    return()
  endif()
  cmake_parse_arguments(A "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${A_SOURCES})
  target_compile_options(${name} PRIVATE ${KEYCAST_WARNINGS})
  target_link_libraries(${name} PRIVATE ${A_DEPS} GTest::gtest GTest::gtest_main GTest::gmock)
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 300)
  endif()
  gtest_discover_tests(${name} TEST_PREFIX "${name}." DISCOVERY_TIMEOUT 120
                       PROPERTIES TIMEOUT ${A_TIMEOUT} RESOURCE_LOCK ${name})
  # gtest_discover_tests (CMake 3.25) splits list values of PROPERTIES, so
  # the list-valued ones (two environment variables, several labels) are set
  # by a file CTest reads after the discovered tests, over the list of names
  # the discovery leaves in ${name}_TESTS.
  # Tests labelled `postgres` share the fixture's cluster (src/testing).
  set(env "KEYCAST_BIN=${PROJECT_BINARY_DIR}/src/cli/keycast;KEYCAST_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
  set(extra "")
  if("postgres" IN_LIST A_LABELS)
    string(APPEND env ";KEYCAST_TEST_POSTGRES=${PROJECT_BINARY_DIR}/test-postgres.state")
    set(extra "FIXTURES_REQUIRED postgres")
  endif()
  set(props_file ${CMAKE_CURRENT_BINARY_DIR}/${name}_properties.cmake)
  file(WRITE ${props_file}
       "if(${name}_TESTS)\n"
       "  set_tests_properties(\${${name}_TESTS} PROPERTIES ${extra}\n"
       "    ENVIRONMENT \"${env}\"\n"
       "    LABELS \"${A_LABELS}\")\n"
       "endif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${props_file})
  if("threaded" IN_LIST A_LABELS)
    set_property(GLOBAL APPEND PROPERTY KEYCAST_THREADED_TESTS ${name})
  endif()
endfunction()

# keycast_fuzzer(NAME SOURCE DEPS ...) — a libFuzzer target, built with
# -DKEYCAST_FUZZ=ON under clang; its seeds live in corpus/NAME beside the
# source. Every build with tests also replays that corpus as the CTest test
# fuzz_replay.NAME: the fuzzer itself with -runs=0 in a fuzz build, else the
# target's code linked with a small driver (src/testing/fuzz_replay_main.cc).
function(keycast_fuzzer name)
  cmake_parse_arguments(A "" "SOURCE" "DEPS" ${ARGN})
  set(corpus ${CMAKE_CURRENT_SOURCE_DIR}/corpus/${name})
  if(KEYCAST_FUZZ)
    add_executable(${name} ${A_SOURCE})
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
    target_link_libraries(${name} PRIVATE ${A_DEPS})
    set(cmd $<TARGET_FILE:${name}> -runs=0 -rss_limit_mb=2048 ${corpus})
  elseif(KEYCAST_TESTS)
    add_executable(${name}_replay ${A_SOURCE} ${PROJECT_SOURCE_DIR}/src/testing/fuzz_replay_main.cc)
    target_compile_options(${name}_replay PRIVATE ${KEYCAST_WARNINGS})
    target_link_libraries(${name}_replay PRIVATE ${A_DEPS})
    set(cmd $<TARGET_FILE:${name}_replay> ${corpus})
  else()
    return()
  endif()
  if(KEYCAST_TESTS)
    add_test(NAME fuzz_replay.${name} COMMAND ${cmd})
    set_tests_properties(fuzz_replay.${name} PROPERTIES LABELS fuzz_replay TIMEOUT 300)
  endif()
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
