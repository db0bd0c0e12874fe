"""Issue 20 item 10: registering a webhook endpoint does not tell a tenant what the deployment's
resolver makes of a name (the address, or whether it resolves at all): one generic refusal."""

from __future__ import annotations

from tests.stack import StackFactory


async def test_registration_does_not_reveal_internal_dns(make_stack: StackFactory) -> None:
    async with make_stack(with_worker=False) as stack:
        answers = {}
        for host in ("localhost", "no-such-host.invalid"):  # resolves to loopback; resolves not at all
            for field in ("url", "oauth"):
                url = f"https://{host}/hook"
                body = {"url": url} if field == "url" else {"url": "https://93.184.215.14/hook"}
                if field == "oauth":
                    body["oauth"] = {"token_url": url, "client_id": "c", "client_secret": "s"}
                r = await stack.post("/v1/endpoints", as_="support", json=body)
                assert (r.status_code, r.json()["code"]) == (422, "endpoint_url_refused"), r.text
                detail = r.json()["detail"]
                assert "127.0.0.1" not in detail and "::1" not in detail and "resolve" not in detail, detail
                answers[host, field] = detail.replace(host, "HOST")
        assert set(answers.values()) == {"HOST is not an allowed public address"}, answers
