// The calls of one org, live: vox-relay's feed (Server-Sent Events) keeps a
// row per call, and a transcript pane follows the call a user chose. A call
// whose recording vox-relay archived gets a play button: the relay answers
// the recording's route with a redirect to the clinic's archived copy.
//
// The page's URL carries the org and a feed credential:
//   /dashboard/?org=<org id>&token=<feed token>
// Every value from the feed is put in the page as text (textContent), never
// as markup: a caller's name or words are data, not HTML.
'use strict';

(() => {
  const params = new URLSearchParams(location.search);
  const org = params.get('org');
  const token = params.get('token');

  const connection = document.getElementById('connection');
  const problem = document.getElementById('problem');
  const tbody = document.querySelector('#calls tbody');
  const empty = document.getElementById('empty');
  const pane = document.getElementById('transcript');
  const paneCall = pane.querySelector('.call');
  const paneLines = pane.querySelector('.lines');
  const player = document.getElementById('player');
  const playerCall = player.querySelector('.call');
  const playerMessage = player.querySelector('.message');
  const audio = player.querySelector('audio');

  const calls = new Map(); // call id -> the newest Call object seen
  const rows = new Map(); // call id -> its <tr>

  const STATUS = { queued: 'Queued', ringing: 'Ringing', 'in-progress': 'In progress', forwarding: 'Forwarding', ended: 'Ended' };
  const CHANNEL = { inbound: 'Inbound', outbound: 'Outbound', web: 'Web' };
  const ROLE = { user: 'Caller', assistant: 'Assistant' };
  const LIVE = new Set(['in-progress', 'forwarding']);
  // A call's recording when there is nothing to play yet, or any more; a
  // call without one (null) says nothing. 'archived' gets the play button.
  const RECORDING = { waiting: 'Archiving…', failed: 'Not archived', deleted: 'Deleted' };

  const apiPath = (...parts) => `/v1/orgs/${parts.map(encodeURIComponent).join('/')}`;
  const withToken = (path) => `${path}?token=${encodeURIComponent(token)}`;

  function showProblem(text) {
    problem.textContent = text;
    problem.hidden = false;
  }

  function setConnection(state) {
    connection.textContent = state;
    connection.dataset.state = state;
  }

  // ------------------------------------------------------------ formatting --

  // What a clinic's staff call the caller: the lead's name when the number
  // belongs to one, else the number grouped for reading.
  function callerText(call) {
    if (call.caller_name) return call.caller_name;
    if (call.caller) return readableNumber(call.caller);
    return call.channel === 'web' ? 'Web call' : 'Unknown caller';
  }

  // E.164 of the North American plan as people write it (+1 415-555-0123);
  // other countries group their digits too variously to guess: as they are.
  function readableNumber(e164) {
    const nanp = /^\+1(\d{3})(\d{3})(\d{4})$/.exec(e164);
    return nanp ? `+1 ${nanp[1]}-${nanp[2]}-${nanp[3]}` : e164;
  }

  const seconds = (iso) => Date.parse(iso) / 1000;

  // m:ss; a call still going counts from its start on this browser's clock.
  function durationText(call) {
    let s = call.duration_seconds;
    if (s == null && call.started_at) {
      if (call.ended_at) s = seconds(call.ended_at) - seconds(call.started_at);
      else if (LIVE.has(call.status)) s = Date.now() / 1000 - seconds(call.started_at);
    }
    if (s == null || Number.isNaN(s)) return '—';
    s = Math.max(0, Math.floor(s));
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
  }

  // Newest first: by start, or by last change for a call not yet started.
  const sortTime = (call) => Date.parse(call.started_at ?? call.updated_at) || 0;
  const newestFirst = (a, b) => sortTime(b) - sortTime(a) || (a.call_id < b.call_id ? -1 : 1);

  // An utterance as a role label and its words, in two spans of `parent`.
  function putUtterance(parent, utterance) {
    const role = document.createElement('span');
    role.className = 'role';
    role.textContent = ROLE[utterance.role] ?? utterance.role;
    const text = document.createElement('span');
    text.className = 'text';
    text.textContent = utterance.text;
    parent.replaceChildren(role, ' ', text);
  }

  // ------------------------------------------------------------------ rows --

  function newRow(callId) {
    const tr = document.createElement('tr');
    tr.dataset.callId = callId;
    tr.tabIndex = 0;
    for (const name of ['status', 'channel', 'caller', 'duration', 'latest', 'recording']) {
      const td = document.createElement('td');
      td.className = name;
      tr.append(td);
    }
    tr.addEventListener('click', () => openTranscript(callId));
    tr.addEventListener('keydown', (event) => {
      if (event.key === 'Enter') openTranscript(callId);
    });
    rows.set(callId, tr);
    return tr;
  }

  function renderRow(call) {
    const tr = rows.get(call.call_id) ?? newRow(call.call_id);
    const cell = (name) => tr.querySelector(`.${name}`);
    cell('status').textContent = STATUS[call.status] ?? call.status ?? '—';
    cell('status').dataset.status = call.status ?? '';
    cell('channel').textContent = CHANNEL[call.channel] ?? call.channel ?? '—';
    cell('caller').textContent = callerText(call);
    cell('caller').title = call.caller_name && call.caller ? readableNumber(call.caller) : '';
    cell('duration').textContent = durationText(call);
    if (call.latest) putUtterance(cell('latest'), call.latest);
    else cell('latest').replaceChildren();
    renderRecording(cell('recording'), call);
    tr.classList.toggle('playing', call.call_id === player.dataset.callId);
    if (call.call_id === player.dataset.callId) playerCall.textContent = callerText(call);
    if (call.call_id === pane.dataset.callId) paneCall.textContent = `${callerText(call)} · ${cell('status').textContent}`;
  }

  // The play button of a call whose recording is archived, else a short
  // note of its state (as text in the cell: screen readers read it with the
  // column's header). The row's own click and Enter open the transcript, so
  // the button keeps its click and keys to itself.
  function renderRecording(td, call) {
    let button = td.querySelector('button.play');
    if (call.recording !== 'archived') {
      button?.remove();
      const text = RECORDING[call.recording];
      let note = td.querySelector('.note');
      if (!text) {
        note?.remove();
        return;
      }
      if (!note) {
        note = document.createElement('span');
        note.className = 'note';
        td.append(note);
      }
      note.textContent = text;
      note.dataset.recording = call.recording;
      return;
    }
    td.querySelector('.note')?.remove();
    if (!button) {
      button = document.createElement('button');
      button.type = 'button';
      button.className = 'play';
      button.setAttribute('aria-controls', 'player');
      const icon = document.createElement('span');
      icon.setAttribute('aria-hidden', 'true');
      icon.textContent = '▶';
      button.append(icon, ' Play');
      button.addEventListener('click', (event) => {
        event.stopPropagation();
        playRecording(call.call_id);
      });
      button.addEventListener('keydown', (event) => event.stopPropagation());
      td.append(button);
    }
    button.setAttribute('aria-label', `Play the recording of the call with ${callerText(call)}`);
  }

  // Moves rows only where the order changed, so a focused row keeps focus.
  function renderOrder() {
    const ordered = [...calls.values()].sort(newestFirst);
    ordered.forEach((call, i) => {
      const tr = rows.get(call.call_id);
      if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] ?? null);
    });
    empty.hidden = calls.size > 0;
  }

  // A call's state as an event carried it. Each event carries the state the
  // relay read, so an older one (a redelivery) never undoes a newer one. The
  // archive changes a call's recording without its updated_at: the relay
  // reads on in time, so the recording of the event received last is the
  // newest, whatever the call's updated_at says.
  function upsert(call) {
    const known = calls.get(call.call_id);
    if (known && Date.parse(known.updated_at) > Date.parse(call.updated_at)) {
      if (known.recording === call.recording) return;
      call = { ...known, recording: call.recording };
    }
    calls.set(call.call_id, call);
    renderRow(call);
  }

  function clearCalls(note) {
    calls.clear();
    rows.clear();
    tbody.replaceChildren();
    empty.textContent = note;
    empty.hidden = false;
  }

  setInterval(() => {
    for (const call of calls.values()) {
      if (LIVE.has(call.status) && !call.ended_at) rows.get(call.call_id).querySelector('.duration').textContent = durationText(call);
    }
  }, 1000);

  // ------------------------------------------------------------ transcript --

  // The chosen call's lines: loaded once, then extended by the feed. Lines
  // the feed brings while the load is under way wait in `pending`; a line
  // both bring (it committed while the load ran) is shown once.
  let shownLines = new Set();
  let pending = null;
  let loads = 0; // a newer load makes an older one's answer moot

  const lineKey = (u) => JSON.stringify([u.role, u.at, u.text]);

  function addLine(utterance) {
    const key = lineKey(utterance);
    if (shownLines.has(key)) return;
    shownLines.add(key);
    const li = document.createElement('li');
    li.className = 'line';
    li.dataset.role = utterance.role;
    putUtterance(li, utterance);
    paneLines.append(li);
  }

  async function openTranscript(callId) {
    for (const tr of tbody.children) tr.classList.toggle('selected', tr.dataset.callId === callId);
    pane.dataset.callId = callId;
    pane.hidden = false;
    const call = calls.get(callId);
    if (call) renderRow(call);
    const load = ++loads;
    shownLines = new Set();
    pending = [];
    paneLines.replaceChildren();
    let lines = [];
    try {
      const response = await fetch(withToken(`${apiPath(org, 'calls', callId)}/transcript`), { cache: 'no-store' });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      lines = (await response.json()).lines;
    } catch (error) {
      if (load !== loads) return;
      const li = document.createElement('li');
      li.className = 'error';
      li.textContent = `Could not load the transcript (${error.message}); new lines still appear.`;
      paneLines.append(li);
    }
    if (load !== loads) return;
    for (const line of [...lines, ...pending]) addLine(line);
    pending = null;
  }

  function closeTranscript() {
    loads++;
    pane.hidden = true;
    delete pane.dataset.callId;
    for (const tr of tbody.children) tr.classList.remove('selected');
  }
  document.getElementById('close-transcript').addEventListener('click', closeTranscript);

  function liveLine(callId, utterance) {
    if (callId !== pane.dataset.callId || !utterance) return;
    if (pending) pending.push(utterance);
    else addLine(utterance);
  }

  // ------------------------------------------------------------- recording --

  // The relay answers the recording's route with a redirect to a short-lived
  // presigned URL of the archived object, or 404 when there is none: the
  // button shows only for an archived recording, but its deletion may be
  // under way when it is pressed (the feed says so once storage confirms). An <audio> element cannot tell a 404 from
  // any other failure, so the route is asked first without following the
  // redirect (a same-origin fetch with redirect 'manual' sees it as an
  // opaque redirect); the audio element then follows it itself. The token
  // stays in the relay's URL: the page sends no referrer.
  let plays = 0; // a newer play makes an older one's answer moot

  const recordingUrl = (callId) => withToken(`${apiPath(org, 'calls', callId)}/recording`);

  function playerSays(text, state) {
    playerMessage.textContent = text;
    playerMessage.dataset.state = state;
  }

  // Why the route gives nothing to play, as staff would read it; null when
  // it redirects (there is something to play).
  async function recordingProblem(callId) {
    let response;
    try {
      response = await fetch(recordingUrl(callId), { redirect: 'manual', cache: 'no-store' });
    } catch (error) {
      return `Could not reach the server for the recording (${error.message}).`;
    }
    if (response.type === 'opaqueredirect' || response.ok) return null;
    if (response.status === 404) {
      return 'This recording is no longer available: it may have been deleted.';
    }
    if (response.status === 401) return 'This dashboard link has expired or was revoked: open the dashboard again from your application.';
    return `Could not load the recording (HTTP ${response.status}).`;
  }

  async function playRecording(callId) {
    const play = ++plays;
    const call = calls.get(callId);
    player.dataset.callId = callId;
    player.hidden = false;
    playerCall.textContent = call ? callerText(call) : '';
    for (const tr of tbody.children) tr.classList.toggle('playing', tr.dataset.callId === callId);
    audio.pause();
    audio.removeAttribute('src');
    audio.load();
    playerSays('Loading the recording…', 'loading');
    const problem = await recordingProblem(callId);
    if (play !== plays) return;
    if (problem) {
      playerSays(problem, 'error');
      return;
    }
    audio.src = recordingUrl(callId);
    try {
      await audio.play();
    } catch (error) {
      // The error event says why a load failed; a browser that refuses to
      // start by itself leaves the controls to the user.
      if (play === plays && error.name === 'NotAllowedError') playerSays('Press play to listen.', 'ready');
    }
  }

  audio.addEventListener('playing', () => playerSays('', 'playing'));
  audio.addEventListener('error', async () => {
    if (!audio.getAttribute('src')) return; // cleared on purpose
    const play = plays;
    const callId = player.dataset.callId;
    const problem = await recordingProblem(callId);
    if (play !== plays) return;
    // The route may redirect and the object still fail (its link expired
    // while paused, storage unreachable, a format this browser cannot play).
    playerSays(problem ?? 'Could not play the recording: its link may have expired or storage did not answer. Press Play on the call to try again.', 'error');
  });

  function closePlayer() {
    plays++;
    audio.pause();
    audio.removeAttribute('src');
    audio.load();
    player.hidden = true;
    delete player.dataset.callId;
    for (const tr of tbody.children) tr.classList.remove('playing');
  }
  document.getElementById('close-player').addEventListener('click', closePlayer);

  // ------------------------------------------------------------------ feed --

  // The browser's EventSource reconnects by itself after a network error,
  // sending Last-Event-ID. It gives up after an HTTP error (a relay
  // answering 503 while it starts, say); then the page opens a new one that
  // names the last event it applied, with growing pauses.
  let lastEventId = null;
  let retryMs = 2000;

  // An EventSource does not say why it was refused. The transcript route
  // takes the same credential: a 401 there means the link's token expired
  // or was revoked, and no retry can help; anything else is worth a retry.
  async function credentialRefused() {
    try {
      const response = await fetch(withToken(`${apiPath(org, 'calls', '-')}/transcript`), { cache: 'no-store' });
      return response.status === 401;
    } catch {
      return false;
    }
  }

  function connect() {
    let url = withToken(`${apiPath(org)}/feed`);
    if (lastEventId) url += `&last_event_id=${encodeURIComponent(lastEventId)}`;
    const source = new EventSource(url);
    source.addEventListener('open', () => {
      setConnection('live');
      retryMs = 2000;
    });
    source.addEventListener('error', async () => {
      setConnection('reconnecting');
      if (source.readyState !== EventSource.CLOSED) return;
      if (await credentialRefused()) {
        setConnection('offline');
        showProblem('This dashboard link has expired or was revoked: open the dashboard again from your application.');
        return;
      }
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 30000);
    });
    // The org's latest calls: the page's whole state, after the first
    // connection and after a reset.
    source.addEventListener('snapshot', (event) => {
      const snapshot = JSON.parse(event.data);
      clearCalls('No calls yet.');
      for (const call of snapshot.calls) upsert(call);
      renderOrder();
      lastEventId = event.lastEventId;
      // Lines the pane may have missed are in the stored transcript.
      if (!pane.hidden) openTranscript(pane.dataset.callId);
    });
    // The relay could not resume where this page left off: what it shows
    // may be stale, so it waits for the snapshot that follows.
    source.addEventListener('reset', () => clearCalls('Reloading…'));
    source.addEventListener('message', (event) => {
      const data = JSON.parse(event.data);
      // Every topic carries its call, a recording's change too.
      if (data.call) {
        upsert(data.call);
        renderOrder();
      }
      if (data.topic === 'transcript') liveLine(data.call_id, data.utterance);
      lastEventId = event.lastEventId;
    });
  }

  if (!org || !token) {
    showProblem('This page needs an org and a feed token in its address: /dashboard/?org=<org id>&token=<feed token> (scripts/up.sh prints one).');
    setConnection('offline');
    return;
  }
  connect();
})();
