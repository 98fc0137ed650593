// The dashboard's only ways to the server: GraphQL over HTTP (`request`) and subscriptions over
// graphql-transport-ws (`LiveSocket`), both to this page's own origin.

/** A GraphQL error (or an HTTP failure), with the API's error code when there is one. */
export class ApiError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code || "ERROR";
  }
}

/** Run a query or mutation; resolves to `data`, rejects with ApiError (`code` NETWORK when the
 * server could not be reached at all). */
export async function request(query, variables, token) {
  const headers = { "content-type": "application/json", accept: "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch("/graphql", {
      method: "POST",
      headers,
      body: JSON.stringify({ query, variables: variables || {} }),
      credentials: "omit",
    });
  } catch (err) {
    throw new ApiError("The server cannot be reached.", "NETWORK");
  }
  let body;
  try {
    body = await response.json();
  } catch (err) {
    throw new ApiError(`The server answered ${response.status}.`, response.status >= 500 ? "NETWORK" : "HTTP");
  }
  if (body.errors && body.errors.length) {
    const first = body.errors[0];
    throw new ApiError(first.message, (first.extensions && first.extensions.code) || "ERROR");
  }
  return body.data;
}

const PROTOCOL = "graphql-transport-ws";
const CLOSE_UNAUTHENTICATED = 4401; // graph/ws_auth.py: bad, expired or revoked token
const CLOSE_FORBIDDEN = 4403; // the user lost access to a company
const BACKOFF_FIRST_MS = 400;
const BACKOFF_MAX_MS = 5000;
const ACK_TIMEOUT_MS = 10000;

/**
 * One graphql-transport-ws connection that keeps itself open: after a close that is not the
 * server refusing the token, it reconnects with exponential backoff (and jitter, so a restarted
 * server is not hit by every page at once) and re-sends every active subscription.
 *
 * Callbacks: onState(state) with "connecting" | "live" | "reconnecting" | "closed";
 * onConnected(isReconnect) after each connection_ack; onRefused(code, reason) for 4401/4403.
 */
export class LiveSocket {
  constructor({ token, onState, onConnected, onRefused }) {
    this.token = token;
    this.onState = onState || (() => {});
    this.onConnected = onConnected || (() => {});
    this.onRefused = onRefused || (() => {});
    this.subscriptions = new Map(); // id -> {query, variables, onData, onError}
    this.nextId = 1;
    this.attempt = 0;
    this.everConnected = false;
    this.stopped = false;
    this.ws = null;
    this.acked = false;
    this.retryTimer = null;
    this.ackTimer = null;
  }

  url() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${window.location.host}/graphql`;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  connect() {
    clearTimeout(this.retryTimer);
    this.acked = false;
    this.onState(this.everConnected ? "reconnecting" : "connecting");
    let ws;
    try {
      ws = new WebSocket(this.url(), PROTOCOL);
    } catch (err) {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.addEventListener("open", () => {
      this.send({ type: "connection_init", payload: { authorization: `Bearer ${this.token}` } });
      // A server that accepts the socket but never acknowledges it is as good as down.
      this.ackTimer = setTimeout(() => ws.close(4408, "connection_ack timeout"), ACK_TIMEOUT_MS);
    });
    ws.addEventListener("message", (event) => this.receive(event));
    ws.addEventListener("close", (event) => this.closed(ws, event));
  }

  send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  receive(event) {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch (err) {
      return;
    }
    const sub = message.id ? this.subscriptions.get(message.id) : undefined;
    switch (message.type) {
      case "connection_ack": {
        clearTimeout(this.ackTimer);
        this.acked = true;
        this.attempt = 0;
        const reconnect = this.everConnected;
        this.everConnected = true;
        // Every subscription again, those the last server refused too: a restart may bring a newer one.
        for (const [id, s] of this.subscriptions) {
          s.failed = false;
          this.sendSubscribe(id, s);
        }
        this.onState("live");
        this.onConnected(reconnect);
        break;
      }
      case "ping":
        this.send({ type: "pong" });
        break;
      case "next":
        if (sub) {
          const payload = message.payload || {};
          if (payload.errors && payload.errors.length) sub.onError(new ApiError(payload.errors[0].message));
          else sub.onData(payload.data);
        }
        break;
      case "error":
        if (sub) {
          const first = (message.payload && message.payload[0]) || {};
          sub.onError(new ApiError(first.message || "subscription failed", first.extensions && first.extensions.code));
          sub.failed = true;
        }
        break;
      case "complete":
        if (sub) sub.failed = true;
        break;
      default:
        break;
    }
  }

  closed(ws, event) {
    clearTimeout(this.ackTimer);
    if (ws !== this.ws) return;
    this.ws = null;
    this.acked = false;
    if (this.stopped) {
      this.onState("closed");
      return;
    }
    if (event.code === CLOSE_UNAUTHENTICATED || event.code === CLOSE_FORBIDDEN) {
      this.stopped = true;
      this.onState("closed");
      this.onRefused(event.code, event.reason);
      return;
    }
    this.scheduleReconnect();
  }

  scheduleReconnect() {
    this.onState("reconnecting");
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** this.attempt);
    this.attempt += 1;
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  /** Subscribe; returns a function that ends the subscription. Survives reconnects. */
  subscribe(query, variables, onData, onError) {
    const id = String(this.nextId++);
    const sub = { query, variables, onData, onError: onError || (() => {}), failed: false };
    this.subscriptions.set(id, sub);
    if (this.acked) this.sendSubscribe(id, sub);
    return () => {
      if (this.subscriptions.delete(id) && this.acked) this.send({ id, type: "complete" });
    };
  }

  sendSubscribe(id, sub) {
    if (sub.failed) return;
    this.send({ id, type: "subscribe", payload: { query: sub.query, variables: sub.variables } });
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.ackTimer);
    this.subscriptions.clear();
    if (this.ws) this.ws.close(1000, "signed out");
    this.ws = null;
  }
}
