#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "stream_hub.hpp"
#include "stream_limits.hpp"

namespace relay {

namespace {

const std::string kAcme = "8d1f6a3e-2b7c-4e59-9a40-5c6d7e8f9012";
const std::string kGlobex = "11111111-2222-4333-8444-555555555555";

}  // namespace

TEST(StreamLimits, PerOrgLimitLeavesRoomForOtherOrgs) {
  StreamLimits limits(3, 2);
  EXPECT_EQ(limits.admit(kAcme), Admission::kAdmitted);
  EXPECT_EQ(limits.admit(kAcme), Admission::kAdmitted);
  EXPECT_EQ(limits.admit(kAcme), Admission::kTooManyForOrg);
  EXPECT_EQ(limits.admit(kGlobex), Admission::kAdmitted);
  EXPECT_EQ(limits.open(), 3u);
  EXPECT_EQ(limits.open_for(kAcme), 2u);
}

TEST(StreamLimits, GlobalLimitComesFirstAndReleasesMakeRoom) {
  StreamLimits limits(2, 2);
  EXPECT_EQ(limits.admit(kAcme), Admission::kAdmitted);
  EXPECT_EQ(limits.admit(kGlobex), Admission::kAdmitted);
  EXPECT_EQ(limits.admit(kGlobex), Admission::kTooManyInAll);
  limits.release(kAcme);
  EXPECT_EQ(limits.open_for(kAcme), 0u);
  EXPECT_EQ(limits.admit(kGlobex), Admission::kAdmitted);
  EXPECT_EQ(limits.admit(kAcme), Admission::kTooManyInAll);
}

TEST(StreamLimits, ReleasingAnOrgWithoutStreamsChangesNothing) {
  StreamLimits limits(1, 1);
  limits.release(kAcme);
  EXPECT_EQ(limits.open(), 0u);
  EXPECT_EQ(limits.admit(kAcme), Admission::kAdmitted);
  EXPECT_EQ(limits.admit(kGlobex), Admission::kTooManyInAll);
}

TEST(StreamHub, AStreamHoldsItsPlaceUntilItsLastHandleGoes) {
  StreamHub hub(1, 1);
  StreamHub::Opened first = hub.open(kAcme, 1);
  ASSERT_TRUE(first.stream);
  EXPECT_EQ(hub.open(kAcme, 1).admission, Admission::kTooManyInAll);
  StreamHub::Handle copy = first.stream;
  first.stream.reset();
  EXPECT_EQ(hub.open_streams(), 1u);
  copy.reset();
  EXPECT_EQ(hub.open_streams(), 0u);
  EXPECT_TRUE(hub.open(kAcme, 1).stream);
}

TEST(StreamHub, WakesOnlyTheOrgsStreams) {
  StreamHub hub(10, 10);
  const StreamHub::Handle acme = hub.open(kAcme, 1).stream;
  const StreamHub::Handle globex = hub.open(kGlobex, 2).stream;
  hub.wake_org(kAcme);
  const auto now = Subscription::Clock::now();
  EXPECT_TRUE(acme->wait_until(now + std::chrono::seconds(5)));
  EXPECT_FALSE(globex->wait_until(now + std::chrono::milliseconds(20)));
  EXPECT_FALSE(acme->wait_until(now + std::chrono::milliseconds(20))) << "a wake-up is taken once";
  hub.wake_all();
  EXPECT_TRUE(globex->wait_until(now + std::chrono::seconds(5)));
}

TEST(StreamHub, AWakeUpReachesAStreamWaitingOnAnotherThread) {
  StreamHub hub(10, 10);
  const StreamHub::Handle acme = hub.open(kAcme, 1).stream;
  bool woken = false;
  std::thread waiter([&] { woken = acme->wait_until(Subscription::Clock::now() + std::chrono::seconds(10)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const auto start = std::chrono::steady_clock::now();
  hub.wake_org(kAcme);
  waiter.join();
  EXPECT_TRUE(woken);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(StreamHub, EndsTheStreamsOfRevokedCredentialsOnly) {
  StreamHub hub(10, 10);
  const StreamHub::Handle a1 = hub.open(kAcme, 1).stream;
  const StreamHub::Handle a2 = hub.open(kAcme, 2).stream;
  const StreamHub::Handle g2 = hub.open(kGlobex, 2).stream;
  EXPECT_EQ(hub.credential_ids(), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(hub.end_revoked({2, 3}), 2u);
  EXPECT_EQ(a1->ended(), std::nullopt);
  EXPECT_EQ(a2->ended(), StreamEnd::kRevoked);
  EXPECT_EQ(g2->ended(), StreamEnd::kRevoked);
  EXPECT_EQ(hub.end_revoked({2}), 0u) << "an ended stream is not ended again";
  // An ended stream stops waiting at once.
  EXPECT_FALSE(a2->wait_until(Subscription::Clock::now() + std::chrono::seconds(10)));
}

TEST(StreamHub, ShutDownEndsEveryStreamAndRefusesNewOnes) {
  StreamHub hub(10, 10);
  const StreamHub::Handle a1 = hub.open(kAcme, 1).stream;
  hub.shut_down();
  EXPECT_EQ(a1->ended(), StreamEnd::kShutdown);
  const StreamHub::Opened refused = hub.open(kGlobex, 2);
  EXPECT_FALSE(refused.stream);
  EXPECT_EQ(refused.admission, Admission::kTooManyInAll);
}

}  // namespace relay
