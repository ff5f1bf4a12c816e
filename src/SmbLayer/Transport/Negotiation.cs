using System.Security.Cryptography;
using SmbLayer.Protocol;

namespace SmbLayer.Transport;

/// <summary>
/// NEGOTIATE within the caller's dialect bounds, highest first (MS-SMB2 §3.2.4.2.2, §3.2.5.2): the request the
/// settings call for, and the checks a response must pass before the connection uses what it settled. No I/O.
/// </summary>
internal static class Negotiation
{
    /// <summary>Upper bound we accept for the server's MaxRead/MaxWrite/MaxTransact (a frame must still fit).</summary>
    private const int MaxIoSizeCap = 8 * 1024 * 1024;

    private const int PreauthSaltSize = 32;

    /// <summary>Signing algorithms offered in 3.1.1, preferred first.</summary>
    internal static readonly Smb2SigningAlgorithmId[] OfferedSigningAlgorithms =
        [Smb2SigningAlgorithmId.AesGmac, Smb2SigningAlgorithmId.AesCmac, Smb2SigningAlgorithmId.HmacSha256];

    /// <summary>
    /// Ciphers offered in 3.1.1 by default, preferred first (MS-SMB2 §2.2.3.1.2): GCM before CCM (faster, and
    /// what current servers prefer), AES-128 before AES-256 (the 128-bit keys are what NTLM's 16-byte session key
    /// fully backs).
    /// </summary>
    internal static readonly CipherId[] DefaultCiphers = [CipherId.Aes128Gcm, CipherId.Aes128Ccm, CipherId.Aes256Gcm, CipherId.Aes256Ccm];

    /// <summary>The ciphers this connection offers: the caller's list (or the default), less any the runtime cannot do.</summary>
    private static CipherId[] OfferedCiphers(ConnectionSettings settings) => [.. (settings.Ciphers ?? DefaultCiphers).Where(Security.Smb3Cipher.IsSupported)];

    /// <summary>The NEGOTIATE request for <paramref name="settings"/>.</summary>
    public static NegotiateRequest Request(ConnectionSettings settings)
    {
        var dialects = SmbDialects.Between(settings.MinDialect, settings.MaxDialect);
        var offers311 = dialects.Contains(SmbDialect.Smb311);
        var ciphers = OfferedCiphers(settings);
        return new NegotiateRequest
        {
            Dialects = dialects,
            SecurityMode = SecurityMode.SigningEnabled | (settings.RequireSigning ? SecurityMode.SigningRequired : 0),
            // SMB2_GLOBAL_CAP_ENCRYPTION asks a 3.0/3.0.2 server for AES-128-CCM; 3.1.1 uses the cipher context instead.
            Capabilities = dialects[0] >= SmbDialect.Smb300
                ? GlobalCapabilities.Leasing | GlobalCapabilities.LargeMtu | (ciphers.Length > 0 ? GlobalCapabilities.Encryption : 0)
                : dialects[0] >= SmbDialect.Smb210 ? GlobalCapabilities.Leasing | GlobalCapabilities.LargeMtu : GlobalCapabilities.None,
            ClientGuid = settings.ClientGuid,
            PreauthSalt = offers311 ? RandomNumberGenerator.GetBytes(PreauthSaltSize) : null,
            Ciphers = offers311 ? ciphers : [],
            SigningAlgorithms = offers311 ? OfferedSigningAlgorithms : [],
        };
    }

    /// <summary>
    /// Checks the server's answer to <paramref name="request"/> (sent as <paramref name="sentBytes"/>) and returns what it
    /// settled; refuses any dialect outside the offered range and any algorithm that was not offered.
    /// </summary>
    public static NegotiatedParameters Settle(NegotiateRequest request, byte[] sentBytes, SmbResponse response, string server, ConnectionSettings settings)
    {
        var dialects = request.Dialects;
        if (response.Status == NtStatus.NotSupported)
        {
            throw new SmbSecurityException(
                $"Server {server} supports none of the dialects offered ({string.Join(", ", dialects.Select(d => d.ToDisplay()))}).");
        }
        if (response.Status != NtStatus.Success)
        {
            throw SmbStatusException.Create(response.Status, $"NEGOTIATE with {server} failed");
        }
        var parsed = NegotiateResponse.Parse(response.Message);
        var dialect = parsed.DialectRevision;
        if (!dialects.Contains(dialect))
        {
            // Covers a downgrade below the caller's minimum and any dialect we never offered (DESIGN §7).
            throw new SmbSecurityException(
                $"Server {server} chose dialect {dialect.ToDisplay()}, outside the offered range {settings.MinDialect.ToDisplay()}–{settings.MaxDialect.ToDisplay()}.");
        }
        if (dialect == SmbDialect.Smb311 && parsed.PreauthHashAlgorithm != PreauthHashAlgorithm.Sha512)
        {
            throw new SmbProtocolException("3.1.1 NEGOTIATE response lacks a SHA-512 pre-auth integrity context.");
        }
        if (parsed.SigningAlgorithm is { } chosen && !OfferedSigningAlgorithms.Contains(chosen))
        {
            throw new SmbProtocolException($"Server chose signing algorithm {chosen}, which was not offered.");
        }
        if (dialect == SmbDialect.Smb311 && parsed.Cipher is { } cipher && cipher != CipherId.None && !request.Ciphers.Contains(cipher))
        {
            throw new SmbProtocolException($"Server chose cipher {cipher}, which was not offered.");
        }
        return new NegotiatedParameters
        {
            Dialect = dialect,
            ServerGuid = parsed.ServerGuid,
            Capabilities = (uint)parsed.Capabilities,
            SecurityMode = (ushort)parsed.SecurityMode,
            MaxTransactSize = ClampIoSize(parsed.MaxTransactSize),
            MaxReadSize = ClampIoSize(parsed.MaxReadSize),
            MaxWriteSize = ClampIoSize(parsed.MaxWriteSize),
            SecurityBuffer = parsed.SecurityBuffer,
            PreauthMessages = dialect == SmbDialect.Smb311 ? [sentBytes, response.Message.ToArray()] : [],
            CipherId = (ushort)(parsed.Cipher ?? CipherId.None),
            SigningAlgorithmId = parsed.SigningAlgorithm is { } s ? (ushort)s : null,
            ClientCapabilities = (uint)request.Capabilities,
            ClientSecurityMode = (ushort)request.SecurityMode,
            OfferedDialects = dialects,
        };
    }

    private static int ClampIoSize(uint value) =>
        value < 512 ? throw new SmbProtocolException($"Server announced an I/O size of {value} bytes, below the minimum of 512.")
        : (int)Math.Min(value, MaxIoSizeCap);
}
