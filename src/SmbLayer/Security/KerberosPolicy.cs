namespace SmbLayer;

/// <summary>Whether a session authenticates with Kerberos (smbclient's <c>--use-kerberos</c>).</summary>
public enum KerberosPolicy
{
    /// <summary>NTLM only (the default: with a password, <see cref="Desired"/> would ask whatever KDC the machine's krb5.conf names).</summary>
    Off,

    /// <summary>Kerberos when a ticket or credentials for it can be had, else NTLM.</summary>
    Desired,

    /// <summary>Kerberos or nothing: a failure is an <see cref="SmbKerberosException"/>.</summary>
    Required,
}
