namespace SmbLayer.Security;

/// <summary>SMB2 signing algorithms; values are the SMB2_SIGNING_CAPABILITIES wire ids (MS-SMB2 §2.2.3.1.7).</summary>
internal enum SigningAlgorithm : ushort
{
    /// <summary>HMAC-SHA256 truncated to 16 bytes; dialects 2.0.2 and 2.1.</summary>
    HmacSha256 = 0,

    /// <summary>AES-128-CMAC; dialects 3.0, 3.0.2, and 3.1.1 without a negotiated signing algorithm.</summary>
    AesCmac = 1,

    /// <summary>AES-128-GMAC; 3.1.1 with SMB2_SIGNING_CAPABILITIES.</summary>
    AesGmac = 2,
}
