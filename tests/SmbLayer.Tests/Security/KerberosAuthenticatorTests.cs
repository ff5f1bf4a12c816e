using SmbLayer.Security.Kerberos;

namespace SmbLayer.Tests.Security;

/// <summary>What the Kerberos authenticator decides before the system's GSS-API is asked (the rest runs against the AD DC).</summary>
public class KerberosAuthenticatorTests
{
    [Theory]
    [InlineData("alice", "", "alice")] // krb5.conf's default realm
    [InlineData("alice", "SMBLAYER", "alice")] // a NetBIOS domain is not a realm
    [InlineData("alice", "smblayer.test", "alice@SMBLAYER.TEST")]
    [InlineData("alice@OTHER.REALM", "smblayer.test", "alice@OTHER.REALM")]
    public void Principal_FromUserAndDomain(string user, string domain, string expected) =>
        Assert.Equal(expected, KerberosAuthenticator.Principal(new SmbCredentials(user, "pw", domain)));

    [Theory]
    [InlineData("127.0.0.10")]
    [InlineData("::1")]
    [InlineData("[fe80::1]")]
    public void Create_HostGivenAsAnAddress_RefusedWithAClearMessage(string host)
    {
        var error = Assert.Throws<SmbKerberosException>(() => KerberosAuthenticator.Create(host, SmbCredentials.TicketCache));
        Assert.Contains("connect by the server's name", error.Message);
        Assert.IsAssignableFrom<SmbAuthenticationException>(error);
    }
}
