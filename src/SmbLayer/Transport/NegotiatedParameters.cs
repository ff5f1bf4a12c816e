using SmbLayer.Protocol;

namespace SmbLayer.Transport;

/// <summary>What NEGOTIATE settled for a connection (MS-SMB2 §3.2.5.2).</summary>
internal sealed record NegotiatedParameters
{
    public required SmbDialect Dialect { get; init; }
    public Guid ServerGuid { get; init; }
    public uint Capabilities { get; init; }
    public ushort SecurityMode { get; init; }
    public int MaxTransactSize { get; init; } = 65536;
    public int MaxReadSize { get; init; } = 65536;
    public int MaxWriteSize { get; init; } = 65536;

    /// <summary>The server's GSS token from the NEGOTIATE response (SPNEGO hints).</summary>
    public byte[] SecurityBuffer { get; init; } = [];

    /// <summary>
    /// 3.1.1: the NEGOTIATE request and response exactly as they crossed the wire, the first two
    /// inputs of the pre-auth integrity hash (MS-SMB2 §3.2.5.2); empty for older dialects.
    /// </summary>
    public byte[][] PreauthMessages { get; init; } = [];

    /// <summary>3.1.1: cipher chosen by the server (0 when none).</summary>
    public ushort CipherId { get; init; }

    /// <summary>3.1.1: signing algorithm chosen by the server; null means the dialect default.</summary>
    public ushort? SigningAlgorithmId { get; init; }

    /// <summary>3.1.1: pre-auth integrity hash algorithm chosen by the server (0 when none).</summary>
    public ushort PreauthHashAlgorithmId { get; init; }

    /// <summary>Capabilities the client sent in NEGOTIATE (repeated in VALIDATE_NEGOTIATE_INFO).</summary>
    public uint ClientCapabilities { get; init; }

    /// <summary>SecurityMode the client sent in NEGOTIATE.</summary>
    public ushort ClientSecurityMode { get; init; }

    /// <summary>Dialects the client offered, in the order sent.</summary>
    public IReadOnlyList<SmbDialect> OfferedDialects { get; init; } = [];

    /// <summary>
    /// The cipher sessions on this connection encrypt with: the server's choice in 3.1.1; AES-128-CCM on
    /// 3.0/3.0.2 when the server announced SMB2_GLOBAL_CAP_ENCRYPTION; <see cref="CipherId.None"/> otherwise.
    /// </summary>
    public CipherId Cipher => Dialect switch
    {
        SmbDialect.Smb311 => (Protocol.CipherId)CipherId,
        SmbDialect.Smb300 or SmbDialect.Smb302 when (Capabilities & 0x00000040) != 0 => Protocol.CipherId.Aes128Ccm,
        _ => Protocol.CipherId.None,
    };

    /// <summary>Server requires signing (SMB2_NEGOTIATE_SIGNING_REQUIRED).</summary>
    public bool ServerRequiresSigning => (SecurityMode & 0x0002) != 0;

    /// <summary>Multi-credit requests: dialect 2.1 or later and SMB2_GLOBAL_CAP_LARGE_MTU.</summary>
    public bool SupportsLargeMtu => Dialect >= SmbDialect.Smb210 && (Capabilities & 0x00000004) != 0;
}
