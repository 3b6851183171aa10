-- One demo call through vox, as Vapi would send it: the call starts, the
-- caller speaks, the call ends. Run against the database made by
-- `bash scripts/up.sh`. Running it again shows every event as a duplicate.
\set ON_ERROR_STOP on

-- a call starts (status-update)
SELECT vox.handle_event('{"message": {"type": "status-update", "status": "in-progress",
  "timestamp": 1763740801000,
  "call": {"id": "call_demo_1", "orgId": "vapi-org", "createdAt": "2025-11-21T16:00:00Z",
           "updatedAt": "2025-11-21T16:00:01Z", "type": "inboundPhoneCall",
           "assistantId": "asst_demo_inbound", "phoneNumberId": "pn_demo_main",
           "startedAt": "2025-11-21T16:00:01Z", "customer": {"number": "+14155550123"}}}}');

-- the caller speaks (final transcript)
SELECT vox.handle_event('{"message": {"type": "transcript", "role": "user", "transcriptType": "final",
  "transcript": "Hi, I would like to book a cleaning.", "timestamp": 1763740805000,
  "call": {"id": "call_demo_1", "orgId": "vapi-org", "createdAt": "2025-11-21T16:00:00Z",
           "updatedAt": "2025-11-21T16:00:05Z", "assistantId": "asst_demo_inbound"}}}');

-- the call ends (end-of-call-report)
SELECT vox.handle_event('{"message": {"type": "end-of-call-report", "endedReason": "customer-ended-call",
  "cost": 0.12, "startedAt": "2025-11-21T16:00:01Z", "endedAt": "2025-11-21T16:03:31Z",
  "artifact": {"transcript": "User: Hi, I would like to book a cleaning.",
               "recording": {"mono": {"combinedUrl": "https://storage.vapi.ai/call_demo_1-mono.wav"}}},
  "analysis": {"summary": "Caller booked a cleaning.", "successEvaluation": "true"},
  "call": {"id": "call_demo_1", "orgId": "vapi-org", "createdAt": "2025-11-21T16:00:00Z",
           "updatedAt": "2025-11-21T16:03:31Z", "assistantId": "asst_demo_inbound"}}}');

SELECT vapi_call_id, channel, status, customer_number, duration_seconds, summary FROM vox.call_logs;
SELECT role, text FROM vox.call_transcripts;
SELECT vapi_call_id, recording_url, status FROM vox.recording_upload_queue;
