"""fsim's inbound Event Socket: ``server.EslServer`` accepts clients, ``connection`` serves one,
``framing`` reads commands and writes replies, ``subscriptions`` decides which events a client gets,
``outbox`` queues and writes what a client has yet to receive (with backpressure for ``hub.drain``)."""
