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
    /// settled; refuses any dialect outside the offered range and any algorithm that was not offered. On a reconnect,
    /// <paramref name="validated"/> is what the connection's earlier NEGOTIATE settled, and the answer must settle the same
    /// (<see cref="ThrowIfChanged"/>).
    /// </summary>
    public static NegotiatedParameters Settle(NegotiateRequest request, byte[] sentBytes, SmbResponse response, string server, ConnectionSettings settings,
        NegotiatedParameters? validated = null)
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
        if (validated is not null)
        {
            // Before the checks below: on a reconnect any difference is a refusal to recover (SmbSecurityException, which
            // ends reconnecting), not a protocol error the reconnect loop would meet again and again.
            ThrowIfChanged(validated, parsed, server);
        }
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
            PreauthHashAlgorithmId = (ushort)(parsed.PreauthHashAlgorithm ?? 0),
            ClientCapabilities = (uint)request.Capabilities,
            ClientSecurityMode = (ushort)request.SecurityMode,
            OfferedDialects = dialects,
        };
    }

    /// <summary>
    /// A reconnect's NEGOTIATE is as unsigned as the first one, but nothing validates it again: VALIDATE_NEGOTIATE_INFO
    /// (3.0/3.0.2) runs once per connection, and the sessions recovered on the new link take their signing requirement
    /// from it (MS-SMB2 §3.2.5.2: SMB2_NEGOTIATE_SIGNING_REQUIRED sets Connection.RequireSigning). Someone on the path
    /// who resets the connection could otherwise answer the reconnect with signing no longer required. So the answer
    /// must settle exactly what the earlier, validated one did: the four values VALIDATE_NEGOTIATE_INFO compares
    /// (§3.2.5.14.12: Capabilities, ServerGuid, SecurityMode, Dialect) and, on 3.1.1, the negotiate contexts the
    /// connection uses (cipher, signing algorithm, pre-auth integrity hash, §2.2.3.1). A match carries the earlier
    /// validation over to the new link; a difference refuses the reconnect before any SESSION_SETUP goes out.
    /// </summary>
    private static void ThrowIfChanged(NegotiatedParameters validated, NegotiateResponse parsed, string server)
    {
        var changes = new List<string>();
        if (parsed.DialectRevision != validated.Dialect)
        {
            changes.Add($"dialect was {validated.Dialect.ToDisplay()}, now {parsed.DialectRevision.ToDisplay()}");
        }
        if (parsed.ServerGuid != validated.ServerGuid)
        {
            changes.Add($"ServerGuid was {validated.ServerGuid}, now {parsed.ServerGuid}");
        }
        if ((ushort)parsed.SecurityMode != validated.SecurityMode)
        {
            changes.Add($"SecurityMode was {Describe((SecurityMode)validated.SecurityMode)}, now {Describe(parsed.SecurityMode)}");
        }
        if ((uint)parsed.Capabilities != validated.Capabilities)
        {
            changes.Add($"Capabilities was 0x{validated.Capabilities:X8} ({(GlobalCapabilities)validated.Capabilities}), " +
                $"now 0x{(uint)parsed.Capabilities:X8} ({parsed.Capabilities})");
        }
        if (validated.Dialect == SmbDialect.Smb311)
        {
            var cipher = (ushort)(parsed.Cipher ?? CipherId.None);
            if (cipher != validated.CipherId)
            {
                changes.Add($"cipher was {(CipherId)validated.CipherId}, now {(CipherId)cipher}");
            }
            var signing = parsed.SigningAlgorithm is { } s ? (ushort?)s : null;
            if (signing != validated.SigningAlgorithmId)
            {
                changes.Add($"signing algorithm was {DescribeSigning(validated.SigningAlgorithmId)}, now {DescribeSigning(signing)}");
            }
            var preauth = (ushort)(parsed.PreauthHashAlgorithm ?? 0);
            if (preauth != validated.PreauthHashAlgorithmId)
            {
                changes.Add($"pre-auth integrity hash algorithm was {DescribePreauth(validated.PreauthHashAlgorithmId)}, now {DescribePreauth(preauth)}");
            }
        }
        if (changes.Count > 0)
        {
            throw new SmbSecurityException(
                $"Server {server} answered the reconnect's NEGOTIATE differently from the connection's first, validated one " +
                $"({string.Join("; ", changes)}); someone on the path may be altering it (for example to turn signing off). " +
                "The sessions are not recovered and the connection is closed.");
        }
    }

    private static string Describe(SecurityMode mode) => $"0x{(ushort)mode:X4} ({mode})";

    private static string DescribeSigning(ushort? id) => id is { } v ? ((Smb2SigningAlgorithmId)v).ToString() : "none (the dialect's default)";

    private static string DescribePreauth(ushort id) => id == 0 ? "none" : ((PreauthHashAlgorithm)id).ToString();

    private static int ClampIoSize(uint value) =>
        value < 512 ? throw new SmbProtocolException($"Server announced an I/O size of {value} bytes, below the minimum of 512.")
        : (int)Math.Min(value, MaxIoSizeCap);
}
