def test_admin_sees_user_list(client_as):
    client = client_as("admin")
    response = client.get("/admin/user/")
    assert response.status_code == 200
    assert "测试clerk".encode() in response.data
