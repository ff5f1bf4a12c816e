namespace SmbLayer;

/// <summary>SMB 3 encryption ciphers; the values are the MS-SMB2 §2.2.3.1.2 cipher ids.</summary>
public enum SmbCipher : ushort
{
    Aes128Ccm = 0x0001,
    Aes128Gcm = 0x0002,
    Aes256Ccm = 0x0003,
    Aes256Gcm = 0x0004,
}
