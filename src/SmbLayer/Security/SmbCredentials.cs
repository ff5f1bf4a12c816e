namespace SmbLayer;

/// <summary>User name, password and domain (NTLMv2, or Kerberos with a password), or the Kerberos ticket cache. <see cref="ToString"/> never shows the password.</summary>
public sealed class SmbCredentials
{
    public SmbCredentials(string userName, string password, string domain = "")
    {
        ArgumentNullException.ThrowIfNull(userName);
        ArgumentNullException.ThrowIfNull(password);
        UserName = userName;
        Password = password;
        Domain = domain ?? "";
    }

    public string UserName { get; }
    public string Password { get; }
    public string Domain { get; }

    /// <summary>An anonymous (null) session; used only when asked for explicitly.</summary>
    public static SmbCredentials Anonymous { get; } = new("", "");

    /// <summary>
    /// Whoever the Kerberos ticket cache (KRB5CCNAME, as after <c>kinit</c>) holds a ticket for: no name, no password.
    /// Needs <see cref="KerberosPolicy.Desired"/> or <see cref="KerberosPolicy.Required"/>; what a client uses when it has
    /// no credentials and Kerberos is on.
    /// </summary>
    public static SmbCredentials TicketCache { get; } = new("", "") { IsTicketCache = true };

    /// <summary>True for <see cref="TicketCache"/>.</summary>
    public bool IsTicketCache { get; private init; }

    public bool IsAnonymous => UserName.Length == 0 && Password.Length == 0 && !IsTicketCache;

    public override string ToString() => IsTicketCache ? "(Kerberos ticket cache)" : Domain.Length > 0 ? $"{Domain}\\{UserName}" : UserName;
}
