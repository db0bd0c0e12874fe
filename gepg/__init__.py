"""GePG, the Tanzanian Government e-Payment Gateway protocol (research §5.2–§5.6): signed XML messages.

A protocol library shared by the worker's adapter (activities/gepg_gateway.py), the API's callback
routes (api/gepg_callbacks.py) and the simulator (simulators/gepg.py), so all three speak the same
bytes: `xml` (hardened parsing, the envelope), `signing` (RSA-SHA1 over the inner element), `codes`
(status codes) and `messages` (each message's elements, built and read).
"""
