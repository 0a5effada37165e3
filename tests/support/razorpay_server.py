"""A local HTTP server speaking the part of Razorpay's REST API Parley calls, for tests.

Endpoints (JSON, HTTP Basic auth with the key id and secret, Razorpay's error shape):
  POST  /v1/subscriptions                 create a subscription for a known plan
  GET   /v1/subscriptions/{id}            fetch
  POST  /v1/subscriptions/{id}/cancel     cancel now or at the cycle's end
  PATCH /v1/subscriptions/{id}            update the plan, now or at the cycle's end
  POST  /v1/orders                        create an order
  GET   /v1/orders/{id}                   fetch
  GET   /v1/payments/{id}                 fetch

Tests play the customer and Razorpay's billing engine through methods (`charge`, `fail_charge`,
`pay_order`...) that move the stored entities as Razorpay would, and build webhook bodies
shaped like Razorpay's documented events (`event`), signed like Razorpay signs them (`sign`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import string
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_ALPHABET = string.ascii_letters + string.digits
MONTH = 30 * 24 * 3600


def rzp_id(prefix: str) -> str:
    """A Razorpay-style id: prefix, underscore, 14 alphanumerics."""
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(14))


def sign(body: bytes, secret: str) -> str:
    """X-Razorpay-Signature: hex HMAC-SHA256 of the raw body with the webhook secret."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class RazorpayError(Exception):
    """An error response in Razorpay's shape."""

    def __init__(self, status: int, code: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.code = code
        self.description = description


@dataclass
class FakeRazorpay:
    """The server and the state of the objects it holds."""

    key_id: str
    key_secret: str
    plans: dict[str, int]  # Razorpay plan id -> amount per cycle (paise)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    fail_next: int = 0  # answer that many requests with a 500
    lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _pending_plan: dict[str, str] = field(default_factory=dict)

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Listen on a free local port in a background thread."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, body = fake.dispatch(
                    self.command, self.path, self.headers.get("authorization"), raw
                )
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Shut the server down."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        """Base URL to configure as RAZORPAY_BASE_URL."""
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def count(self, method: str, prefix: str) -> int:
        """How many requests of `method` hit paths starting with `prefix`."""
        return sum(1 for m, p in self.requests if m == method and p.startswith(prefix))

    # --- HTTP ------------------------------------------------------------------------------

    def dispatch(
        self, method: str, path: str, authorization: str | None, raw: bytes
    ) -> tuple[int, dict[str, Any]]:
        """Route one request; returns (status, JSON body)."""
        with self.lock:
            self.requests.append((method, path.split("?", maxsplit=1)[0]))
            try:
                if not self._authorized(authorization):
                    raise RazorpayError(401, "BAD_REQUEST_ERROR", "Authentication failed")
                if self.fail_next > 0:
                    self.fail_next -= 1
                    raise RazorpayError(500, "SERVER_ERROR", "We are facing some trouble")
                body = json.loads(raw) if raw else {}
                if not isinstance(body, dict):
                    raise RazorpayError(400, "BAD_REQUEST_ERROR", "The request body is invalid")
                return 200, self._route(method, path.split("?", maxsplit=1)[0].rstrip("/"), body)
            except RazorpayError as exc:
                return exc.status, {
                    "error": {
                        "code": exc.code,
                        "description": exc.description,
                        "source": "business",
                        "step": "NA",
                        "reason": "input_validation_failed",
                        "metadata": {},
                    }
                }

    def _authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return hmac.compare_digest(user, self.key_id) and hmac.compare_digest(
            password, self.key_secret
        )

    def _route(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:  # noqa: PLR0911
        parts = path.strip("/").split("/")
        if parts[:1] != ["v1"] or len(parts) < 2:
            raise RazorpayError(404, "BAD_REQUEST_ERROR", "The requested URL was not found")
        resource, rest = parts[1], parts[2:]
        if resource == "subscriptions":
            if method == "POST" and not rest:
                return self._create_subscription(body)
            sub = self._get(self.subscriptions, rest[0] if rest else "")
            if method == "GET" and len(rest) == 1:
                return dict(sub)
            if method == "POST" and rest[1:] == ["cancel"]:
                return self._cancel(sub, body)
            if method == "PATCH" and len(rest) == 1:
                return self._update(sub, body)
        if resource == "orders":
            if method == "POST" and not rest:
                return self._create_order(body)
            if method == "GET" and len(rest) == 1:
                return dict(self._get(self.orders, rest[0]))
        if resource == "payments" and method == "GET" and len(rest) == 1:
            return dict(self._get(self.payments, rest[0]))
        raise RazorpayError(404, "BAD_REQUEST_ERROR", "The requested URL was not found")

    @staticmethod
    def _get(store: dict[str, dict[str, Any]], key: str) -> dict[str, Any]:
        if key not in store:
            raise RazorpayError(400, "BAD_REQUEST_ERROR", "The id provided does not exist")
        return store[key]

    def _create_subscription(self, body: dict[str, Any]) -> dict[str, Any]:
        plan_id = body.get("plan_id")
        if plan_id not in self.plans:
            raise RazorpayError(400, "BAD_REQUEST_ERROR", "The id provided does not exist")
        total = body.get("total_count")
        if not isinstance(total, int) or total < 1:
            raise RazorpayError(400, "BAD_REQUEST_ERROR", "The total count field is required.")
        now = int(time.time())
        sub_id = rzp_id("sub")
        sub = {
            "id": sub_id,
            "entity": "subscription",
            "plan_id": plan_id,
            "customer_id": None,
            "status": "created",
            "current_start": None,
            "current_end": None,
            "ended_at": None,
            "quantity": body.get("quantity", 1),
            "notes": body.get("notes") or {},
            "charge_at": now,
            "start_at": now,
            "end_at": now + total * MONTH,
            "auth_attempts": 0,
            "total_count": total,
            "paid_count": 0,
            "customer_notify": True,
            "created_at": now,
            "expire_by": None,
            "short_url": f"https://rzp.io/i/{sub_id[4:12]}",
            "has_scheduled_changes": False,
            "change_scheduled_at": None,
            "source": "api",
            "offer_id": None,
            "remaining_count": total,
        }
        self.subscriptions[sub_id] = sub
        return dict(sub)

    def _cancel(self, sub: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        if sub["status"] in ("cancelled", "completed", "expired"):
            raise RazorpayError(
                400,
                "BAD_REQUEST_ERROR",
                f"Subscription is not cancellable in {sub['status']} status.",
            )
        if body.get("cancel_at_cycle_end") in (1, True, "1"):
            sub["cancel_at_cycle_end"] = True
        else:
            sub["status"] = "cancelled"
            sub["ended_at"] = int(time.time())
        return dict(sub)

    def _update(self, sub: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        if sub["status"] != "active":
            raise RazorpayError(
                400, "BAD_REQUEST_ERROR", "Subscription can not be updated in its current state"
            )
        plan_id = body.get("plan_id")
        if plan_id is not None and plan_id not in self.plans:
            raise RazorpayError(400, "BAD_REQUEST_ERROR", "The id provided does not exist")
        when = body.get("schedule_change_at", "now")
        if when not in ("now", "cycle_end"):
            raise RazorpayError(400, "BAD_REQUEST_ERROR", "schedule_change_at is invalid")
        if plan_id is not None:
            if when == "now":
                sub["plan_id"] = plan_id
            else:
                self._pending_plan[sub["id"]] = plan_id
                sub["has_scheduled_changes"] = True
                sub["change_scheduled_at"] = sub["current_end"]
        return dict(sub)

    def _create_order(self, body: dict[str, Any]) -> dict[str, Any]:
        amount = body.get("amount")
        if not isinstance(amount, int) or amount < 100:
            raise RazorpayError(400, "BAD_REQUEST_ERROR", "Order amount less than minimum amount")
        currency = body.get("currency", "INR")
        receipt = body.get("receipt")
        if receipt is not None and (not isinstance(receipt, str) or len(receipt) > 40):
            raise RazorpayError(400, "BAD_REQUEST_ERROR", "receipt: max 40 characters")
        order_id = rzp_id("order")
        order = {
            "id": order_id,
            "entity": "order",
            "amount": amount,
            "amount_paid": 0,
            "amount_due": amount,
            "currency": currency,
            "receipt": receipt,
            "offer_id": None,
            "status": "created",
            "attempts": 0,
            "notes": body.get("notes") or {},
            "created_at": int(time.time()),
        }
        self.orders[order_id] = order
        return dict(order)

    # --- the customer and Razorpay's billing engine ------------------------------------------

    def _payment(
        self, amount: int, *, status: str, order_id: str | None, invoice_id: str | None
    ) -> dict[str, Any]:
        pay_id = rzp_id("pay")
        failed = status == "failed"
        payment = {
            "id": pay_id,
            "entity": "payment",
            "amount": amount,
            "currency": "INR",
            "status": status,
            "order_id": order_id,
            "invoice_id": invoice_id,
            "international": False,
            "method": "card",
            "amount_refunded": 0,
            "refund_status": None,
            "captured": status == "captured",
            "description": None,
            "card_id": rzp_id("card"),
            "bank": None,
            "wallet": None,
            "vpa": None,
            "email": "buyer@example.com",
            "contact": "+919999999999",
            "customer_id": rzp_id("cust"),
            "notes": [],
            "fee": 0 if failed else amount // 50,
            "tax": 0,
            "error_code": "BAD_REQUEST_ERROR" if failed else None,
            "error_description": "Payment failed due to insufficient funds" if failed else None,
            "error_source": "customer" if failed else None,
            "error_step": "payment_authorization" if failed else None,
            "error_reason": "insufficient_funds" if failed else None,
            "created_at": int(time.time()),
        }
        self.payments[pay_id] = payment
        return payment

    def charge(self, sub_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """A successful charge of the next cycle: the subscription becomes (or stays) active,
        with a captured payment and a paid invoice. Returns (payment, invoice)."""
        with self.lock:
            sub = self.subscriptions[sub_id]
            if sub_id in self._pending_plan and sub["paid_count"] > 0:
                sub["plan_id"] = self._pending_plan.pop(sub_id)
                sub["has_scheduled_changes"] = False
                sub["change_scheduled_at"] = None
            amount = self.plans[sub["plan_id"]]
            start = sub["current_end"] or int(time.time())
            sub.update(
                status="active",
                current_start=start,
                current_end=start + MONTH,
                charge_at=start + MONTH,
                paid_count=sub["paid_count"] + 1,
                remaining_count=sub["total_count"] - sub["paid_count"] - 1,
            )
            invoice_id, order_id = rzp_id("inv"), rzp_id("order")
            payment = self._payment(
                amount, status="captured", order_id=order_id, invoice_id=invoice_id
            )
            invoice = {
                "id": invoice_id,
                "entity": "invoice",
                "receipt": None,
                "invoice_number": None,
                "customer_id": payment["customer_id"],
                "order_id": order_id,
                "subscription_id": sub_id,
                "payment_id": payment["id"],
                "status": "paid",
                "issued_at": start,
                "paid_at": int(time.time()),
                "billing_start": start,
                "billing_end": start + MONTH,
                "amount": amount,
                "amount_paid": amount,
                "amount_due": 0,
                "currency": "INR",
                "short_url": f"https://rzp.io/i/{invoice_id[4:12]}",
                "type": "invoice",
                "created_at": start,
            }
            self.invoices[invoice_id] = invoice
            return dict(payment), dict(invoice)

    def fail_charge(self, sub_id: str, *, halt: bool = False) -> dict[str, Any]:
        """A failed renewal: the subscription goes pending (or halted after retries)."""
        with self.lock:
            sub = self.subscriptions[sub_id]
            amount = self.plans[sub["plan_id"]]
            sub["status"] = "halted" if halt else "pending"
            return dict(
                self._payment(amount, status="failed", order_id=rzp_id("order"), invoice_id=None)
            )

    def set_status(self, sub_id: str, status: str) -> None:
        """Move a subscription as Razorpay's dashboard or engine would (pause, resume...)."""
        with self.lock:
            sub = self.subscriptions[sub_id]
            sub["status"] = status
            if status in ("cancelled", "completed", "expired"):
                sub["ended_at"] = int(time.time())

    def pay_order(self, order_id: str) -> dict[str, Any]:
        """The customer pays an order: a captured payment, the order paid."""
        with self.lock:
            order = self.orders[order_id]
            payment = self._payment(
                order["amount"], status="captured", order_id=order_id, invoice_id=None
            )
            order.update(status="paid", amount_paid=order["amount"], amount_due=0, attempts=1)
            return dict(payment)

    def fail_order(self, order_id: str) -> dict[str, Any]:
        """The customer's attempt to pay an order is declined."""
        with self.lock:
            order = self.orders[order_id]
            order.update(status="attempted", attempts=order["attempts"] + 1)
            return dict(
                self._payment(order["amount"], status="failed", order_id=order_id, invoice_id=None)
            )

    def refund(self, payment_id: str, amount: int) -> dict[str, Any]:
        """A processed refund of (part of) a payment."""
        with self.lock:
            payment = self.payments[payment_id]
            payment["amount_refunded"] += amount
            payment["refund_status"] = (
                "full" if payment["amount_refunded"] >= payment["amount"] else "partial"
            )
            if payment["amount_refunded"] >= payment["amount"]:
                payment["status"] = "refunded"
            return {
                "id": rzp_id("rfnd"),
                "entity": "refund",
                "amount": amount,
                "currency": "INR",
                "payment_id": payment_id,
                "notes": [],
                "receipt": None,
                "acquirer_data": {"arn": None},
                "created_at": int(time.time()),
                "batch_id": None,
                "status": "processed",
                "speed_processed": "normal",
                "speed_requested": "normal",
            }

    def checkout_signature(
        self, payment_id: str, *, subscription_id: str | None = None, order_id: str | None = None
    ) -> str:
        """The razorpay_signature Checkout hands the browser after a payment."""
        message = (
            f"{payment_id}|{subscription_id}" if subscription_id else f"{order_id}|{payment_id}"
        )
        return hmac.new(self.key_secret.encode(), message.encode(), hashlib.sha256).hexdigest()

    # --- webhooks --------------------------------------------------------------------------

    def event(self, name: str, *, created_at: int | None = None, **entities: Any) -> dict[str, Any]:
        """A webhook body shaped like Razorpay's: {entity, account_id, event, contains,
        payload: {<name>: {entity: {...}}}, created_at}. Entities are snapshots (copies)."""
        return {
            "entity": "event",
            "account_id": "acc_PrlyTest000001",
            "event": name,
            "contains": list(entities),
            "payload": {key: {"entity": dict(value)} for key, value in entities.items()},
            "created_at": created_at if created_at is not None else int(time.time()),
        }

    def subscription_event(
        self, name: str, sub_id: str, *, payment: dict[str, Any] | None = None, **extra: Any
    ) -> dict[str, Any]:
        """A subscription.* event carrying the subscription as it is now (and a payment)."""
        with self.lock:
            entities: dict[str, Any] = {"subscription": dict(self.subscriptions[sub_id])}
        if payment is not None:
            entities["payment"] = payment
        return self.event(name, **extra, **entities)


def encode(body: dict[str, Any]) -> bytes:
    """Serialise a webhook body the way Razorpay does (compact JSON)."""
    return json.dumps(body, separators=(",", ":")).encode()
