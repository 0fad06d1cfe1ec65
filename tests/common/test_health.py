from django.test import Client


def test_health_check_answers_without_login(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.content == b"ok"
