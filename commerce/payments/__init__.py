"""Payment gateways: the `PaymentGateway` interface, its registry and the sandbox."""
