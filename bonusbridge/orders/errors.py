"""Typed refusals of the order service: each means nothing was written, and names its problem code."""

from __future__ import annotations

from bonusbridge.errors import BonusBridgeError


class OrderError(BonusBridgeError):
    code = "order_error"


class UnknownOrder(OrderError):
    code = "unknown_order"


class OrderCardMismatch(OrderError):
    """The order was started with another card (and has not been merged into this one)."""

    code = "order_card_mismatch"


class OrderAlreadyAccrued(OrderError):
    """The order is paid and accrued: no new hold or capture, no second accrual."""

    code = "order_already_accrued"


class OrderNotAccrued(OrderError):
    """A refund or return before the order's accrual: there is nothing to refund yet."""

    code = "order_not_accrued"


class OrderRefunded(OrderError):
    """A capture on an order already (partly) refunded: the points would be spent for good."""

    code = "order_refunded"


class OrderHoldPending(OrderError):
    """The order still has a hold that is neither captured nor voided: settle it before the accrual."""

    code = "order_hold_pending"


class OrderTotalMismatch(OrderError):
    """A hold stating another order total than the order's earlier holds."""

    code = "order_total_mismatch"


class RefundExceedsOrder(OrderError):
    code = "refund_exceeds_order"


class InvalidReturn(OrderError):
    """Lines that are not the receipt's, or more units than are left to return."""

    code = "invalid_return"
