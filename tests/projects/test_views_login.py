"""The login page's throttle: a flood of wrong passwords locks the account (and an address), saying so."""

from typing import Any

from django.test import Client

from apps.common import throttle


def _post(username: str, password: str, address: str = "10.0.0.1") -> Any:
    return Client(REMOTE_ADDR=address).post("/login/", {"username": username, "password": password})


def test_a_flood_of_wrong_passwords_locks_the_account_with_retry_after(make_user: Any, settings: Any) -> None:
    settings.LOGIN_FAILURES_PER_ACCOUNT, settings.LOGIN_LOCKOUT_S = 5, 600
    make_user("victim")
    answers = [_post("victim", f"guess-{n}") for n in range(500)]
    assert all(a.status_code == 200 for a in answers[:4])
    refused = answers[4:]
    assert all(a.status_code == 429 for a in refused)
    assert all(0 < int(a["Retry-After"]) <= 600 for a in refused)
    page = refused[-1].content.decode()
    assert "Too many failed attempts from this account: try again in 10 minutes" in page
    assert "even with the right password" in page


def test_the_right_password_is_refused_during_a_lockout_and_accepted_after(make_user: Any, settings: Any) -> None:
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    make_user("victim")
    for n in range(3):
        _post("victim", f"guess-{n}")
    refused = _post("victim", "pw-for-tests")
    assert refused.status_code == 429 and "even with the right password" in refused.content.decode()
    throttle.failures_clear("login-account", "victim")  # the lockout expired
    assert _post("victim", "pw-for-tests").status_code == 302


def test_another_account_is_unaffected_by_a_locked_one(make_user: Any, settings: Any) -> None:
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    make_user("victim")
    make_user("bystander")
    for n in range(20):
        _post("victim", f"guess-{n}")
    assert _post("bystander", "pw-for-tests").status_code == 302


def test_an_address_trying_many_accounts_is_locked_while_another_address_is_served(
    make_user: Any, settings: Any
) -> None:
    settings.LOGIN_FAILURES_PER_ACCOUNT, settings.LOGIN_FAILURES_PER_ADDRESS = 3, 10
    make_user("bystander")
    answers = [_post(f"someone-{n}", "guess", address="10.0.0.66") for n in range(500)]
    assert answers[8].status_code == 200 and all(a.status_code == 429 for a in answers[9:])
    page = answers[-1].content.decode()
    assert "from your address" in page and int(answers[-1]["Retry-After"]) > 0
    assert _post("bystander", "pw-for-tests", address="10.0.0.66").status_code == 429
    assert _post("bystander", "pw-for-tests", address="10.0.0.2").status_code == 302


def test_a_successful_login_clears_the_accounts_count(make_user: Any, settings: Any) -> None:
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    make_user("victim")
    for _ in range(2):
        _post("victim", "guess")
    assert _post("victim", "pw-for-tests").status_code == 302
    for _ in range(2):
        _post("victim", "guess")
    assert _post("victim", "pw-for-tests").status_code == 302


def test_the_address_behind_a_trusted_proxy_is_the_forwarded_one(make_user: Any, settings: Any) -> None:
    from ipaddress import ip_network

    settings.TRUSTED_PROXIES = [ip_network("10.9.0.0/16")]
    settings.LOGIN_FAILURES_PER_ACCOUNT, settings.LOGIN_FAILURES_PER_ADDRESS = 0, 3
    proxy = Client(REMOTE_ADDR="10.9.0.1")
    for _ in range(3):
        proxy.post("/login/", {"username": "x", "password": "y"}, HTTP_X_FORWARDED_FOR="203.0.113.7, 10.9.0.2")
    assert proxy.post("/login/", {"username": "x"}, HTTP_X_FORWARDED_FOR="203.0.113.7").status_code == 429
    assert proxy.post("/login/", {"username": "x"}, HTTP_X_FORWARDED_FOR="203.0.113.8").status_code == 200
