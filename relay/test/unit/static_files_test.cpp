#include "static_files.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace relay {

namespace {

namespace fs = std::filesystem;

// A dashboard directory beside a secret file, removed afterwards.
class StaticFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "vox-relay-static-XXXXXX").string();
    ASSERT_TRUE(mkdtemp(pattern.data()));
    base_ = pattern;
    root_ = base_ / "dashboard";
    fs::create_directories(root_ / "assets");
    fs::create_directories(root_ / ".git");
    write(root_ / "index.html", "<!doctype html>");
    write(root_ / "assets" / "app.js", "export {}");
    write(root_ / "assets" / "index.html", "assets");
    write(root_ / ".env", "SECRET=1");
    write(root_ / ".git" / "config", "[core]");
    write(base_ / "secret.txt", "secret");
    fs::create_symlink(base_ / "secret.txt", root_ / "leak.txt");
    fs::create_symlink(root_ / "assets" / "app.js", root_ / "alias.js");
  }
  void TearDown() override { fs::remove_all(base_); }
  static void write(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }

  fs::path base_, root_;
};

}  // namespace

TEST_F(StaticFilesTest, ServesFilesBelowTheRoot) {
  const StaticFiles files(root_.string());
  ASSERT_TRUE(files.enabled());
  const auto index = files.find("");
  ASSERT_TRUE(index);
  EXPECT_EQ(fs::path(index->path), fs::canonical(root_ / "index.html"));
  EXPECT_EQ(index->content_type, "text/html; charset=utf-8");
  const auto app = files.find("assets/app.js");
  ASSERT_TRUE(app);
  EXPECT_EQ(app->content_type, "text/javascript; charset=utf-8");
  const auto assets = files.find("assets/");
  ASSERT_TRUE(assets);
  EXPECT_EQ(fs::path(assets->path), fs::canonical(root_ / "assets" / "index.html"));
  EXPECT_TRUE(files.find("alias.js")) << "a link that stays inside is served";
}

TEST_F(StaticFilesTest, RefusesWhatIsNotADashboardFile) {
  const StaticFiles files(root_.string());
  for (const char* refused :
       {"../secret.txt", "assets/../../secret.txt", "..", "./index.html", ".env", ".git/config", "assets//app.js",
        "/etc/passwd", "assets\\app.js", "leak.txt", "missing.js", "assets", "index.html\n"})
    EXPECT_FALSE(files.find(refused)) << refused;
}

TEST_F(StaticFilesTest, NoRootServesNothing) {
  const StaticFiles files("");
  EXPECT_FALSE(files.enabled());
  EXPECT_FALSE(files.find("index.html"));
}

TEST(StaticPaths, SafeRelativePaths) {
  for (const char* safe : {"", "index.html", "assets/app.js", "assets/", "a/b/c.css", "x..y"})
    EXPECT_TRUE(is_safe_relative_path(safe)) << safe;
  for (const char* unsafe :
       {"/", "/index.html", "..", "a/../b", "a/./b", "a//b", ".hidden", "a/.b", "a\\b", "a\tb", "a\x7f"})
    EXPECT_FALSE(is_safe_relative_path(unsafe)) << unsafe;
}

TEST(StaticPaths, ContentTypesByExtension) {
  EXPECT_EQ(content_type_for("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(content_type_for("APP.JS"), "text/javascript; charset=utf-8");
  EXPECT_EQ(content_type_for("a/b/style.css"), "text/css; charset=utf-8");
  EXPECT_EQ(content_type_for("data.json"), "application/json");
  EXPECT_EQ(content_type_for("logo.svg"), "image/svg+xml");
  EXPECT_EQ(content_type_for("font.woff2"), "font/woff2");
  EXPECT_EQ(content_type_for("favicon.ico"), "image/x-icon");
  EXPECT_EQ(content_type_for("archive.tar.gz"), "application/octet-stream");
  EXPECT_EQ(content_type_for("Makefile"), "application/octet-stream");
  EXPECT_EQ(content_type_for("dir.d/noext"), "application/octet-stream");
}

}  // namespace relay
