namespace SmbLayer.IntegrationTests;

/// <summary>Server configurations offered by <c>scripts/samba-server.sh</c>.</summary>
public enum SambaProfile
{
    /// <summary>SMB2_02 up to SMB3_11, signing and encryption negotiable.</summary>
    Default,

    /// <summary>Like <see cref="Default"/> with <c>server signing = mandatory</c>.</summary>
    SigningMandatory,

    /// <summary><c>server max protocol = SMB2_10</c>.</summary>
    MaxSmb2_10,

    /// <summary><c>server max protocol = SMB3_00</c>.</summary>
    MaxSmb3_00,

    /// <summary><c>server max protocol = SMB3_02</c>.</summary>
    MaxSmb3_02,

    /// <summary>Like <see cref="Default"/> with <c>server smb encrypt = required</c>.</summary>
    EncryptionRequired,

    /// <summary><see cref="EncryptionRequired"/> with <c>server smb3 encryption algorithms = AES-128-CCM</c> only.</summary>
    EncryptAes128Ccm,

    /// <summary><see cref="EncryptionRequired"/> with AES-128-GCM only.</summary>
    EncryptAes128Gcm,

    /// <summary><see cref="EncryptionRequired"/> with AES-256-CCM only.</summary>
    EncryptAes256Ccm,

    /// <summary><see cref="EncryptionRequired"/> with AES-256-GCM only.</summary>
    EncryptAes256Gcm,

    /// <summary>Like <see cref="Default"/> with <c>map to guest = bad user</c> and a guest-ok share <c>public</c>.</summary>
    Guest,

    /// <summary>Like <see cref="Default"/> with <c>host msdfs = yes</c> and a DFS root share <c>dfsroot</c> (links link1, link2).</summary>
    Dfs,

    /// <summary>Like <see cref="Default"/> with 300 more shares (s000 to s299, each with a comment).</summary>
    ManyShares,
}

internal static class SambaProfileExtensions
{
    /// <summary>The PROFILE argument of <c>scripts/samba-server.sh start</c>.</summary>
    public static string ScriptName(this SambaProfile profile) => profile switch
    {
        SambaProfile.Default => "default",
        SambaProfile.SigningMandatory => "signing",
        SambaProfile.MaxSmb2_10 => "smb2_10",
        SambaProfile.MaxSmb3_00 => "smb3_00",
        SambaProfile.MaxSmb3_02 => "smb3_02",
        SambaProfile.EncryptionRequired => "encrypt",
        SambaProfile.EncryptAes128Ccm => "encrypt_aes128ccm",
        SambaProfile.EncryptAes128Gcm => "encrypt_aes128gcm",
        SambaProfile.EncryptAes256Ccm => "encrypt_aes256ccm",
        SambaProfile.EncryptAes256Gcm => "encrypt_aes256gcm",
        SambaProfile.Guest => "guest",
        SambaProfile.Dfs => "dfs",
        SambaProfile.ManyShares => "shares",
        _ => throw new ArgumentOutOfRangeException(nameof(profile), profile, null),
    };

    /// <summary>Highest dialect the profile's server negotiates, in smb.conf spelling.</summary>
    public static string MaxProtocol(this SambaProfile profile) => profile switch
    {
        SambaProfile.MaxSmb2_10 => "SMB2_10",
        SambaProfile.MaxSmb3_00 => "SMB3_00",
        SambaProfile.MaxSmb3_02 => "SMB3_02",
        _ => "SMB3_11",
    };
}
