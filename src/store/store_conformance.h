// The behaviour every Store backend shows, as value-parameterised tests
// (TEST_P in store_conformance.cc). A backend's test binary compiles that
// file and instantiates the suite with its StoreBackend:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance, ::testing::Values(SqliteBackend()),
//   BackendName);
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "keycast/store.h"
#include "store/sql.h"

namespace keycast {

struct StoreBackend {
  std::string name;  // the test-name suffix
  // A fresh, empty database: what OpenStore takes (a path or a URI).
  std::function<Result<std::string>()> create_database;
  // Deletes it once every Store on it is closed.
  std::function<void(const std::string&)> drop_database;
};

std::string BackendName(const ::testing::TestParamInfo<StoreBackend>& info);
void PrintTo(const StoreBackend& backend, std::ostream* os);  // its name, in failure messages

class StoreConformance : public ::testing::TestWithParam<StoreBackend> {
 protected:
  void SetUp() override;
  void TearDown() override;
  // Another Store on the same database: a connection of its own, as
  // another process would open.
  std::unique_ptr<Store> OpenAgain();
  // A raw connection, for statements the Store interface does not offer.
  std::unique_ptr<sql::Conn> OpenConn();

  std::string database_;
  std::unique_ptr<Store> store_;
};

// An event with every optional field set.
Event SampleEvent(const std::string& name);

// The names of the store's groups, sorted; a test failure if it cannot load.
std::vector<std::string> GroupNames(Store* store);

}  // namespace keycast
